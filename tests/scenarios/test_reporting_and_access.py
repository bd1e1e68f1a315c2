"""Issue 6 end to end: who may read what (roles over real connections), no personal data in marts
and reporting, the reporting views, and the county daily report rendered in Chromium.

One module-scoped county in a database of its own (the scenario module's story is left alone):
150 random households plus the scenario households, the real DAG run for D1 (warnings raised),
D2 (S1's home visit) and REPORT_DATE (the S2 warnings, still awaiting a visit, are overdue).
"""

from __future__ import annotations

import os
import secrets
from datetime import date

import psycopg
import pytest

from household_monitoring.cli import airflow_environment, ensure_airflow_db, run_dag
from household_monitoring.database import connect, create_database, drop_database, migrate
from household_monitoring.dbt import run_dbt
from household_monitoring.sample_data.generator import D1, D2, generate_county

pytestmark = pytest.mark.e2e
REPORT_DATE = date(2024, 7, 22)


@pytest.fixture(scope="module")
def county_db(server, var_dir, tmp_path_factory):
    """A database with the county built by three DAG runs; its own landing zone and reports folder."""
    name = f"hm_test_{secrets.token_hex(4)}"
    db = create_database(server, name)
    with connect(db) as conn:
        migrate(conn)
    landing = tmp_path_factory.mktemp("landing_issue6")
    reports = tmp_path_factory.mktemp("reports_issue6")
    generate_county(landing, households=150, start=D1, end=REPORT_DATE)
    env = {**airflow_environment(db), "HM_LANDING_DIR": str(landing), "HM_REPORTS_DIR": str(reports)}
    log = var_dir / "airflow_issue6.log"
    ensure_airflow_db(env, log)
    previous = {k: os.environ.get(k) for k in ("HM_REPORTS_DIR",)}
    os.environ["HM_REPORTS_DIR"] = str(reports)
    try:
        for day in (D1, D2, REPORT_DATE):
            assert run_dag(day, env, log) == 0, log.read_text(encoding="utf-8")[-3000:]
        yield db
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        drop_database(server, name)


@pytest.fixture
def owner(county_db):
    with connect(county_db, autocommit=True) as conn:
        yield conn


def _as(db, role: str) -> psycopg.Connection:
    """A real connection to the county's database as ``role`` (the local server trusts it)."""
    return psycopg.connect(db.as_user(role).url, autocommit=True)


def _can_read(db, role: str, relation: str) -> bool:
    with _as(db, role) as conn:
        try:
            conn.execute(f"select count(*) from {relation}").fetchone()
        except psycopg.errors.InsufficientPrivilege:
            return False
    return True


ANALYST_READS = [
    "marts.fct_risk_warnings",
    "marts.mart_household_income",
    "marts.mart_area_summary",
    "marts.fct_risk_warning_lineage",
]
ANALYST_DENIED = [
    "raw.household_register",
    "raw.medical_settlements",
    "quarantine.medical_settlements",
    "audit.load_batches",
    "audit.dq_results",
    "staging.stg_household_register__members",
    "intermediate.int_household_members",
]
AUDITOR_READS = [
    "audit.load_batches",
    "audit.dq_results",
    "quarantine.medical_settlements",
    "quarantine.household_register",
    "marts.fct_risk_warning_lineage",
]
AUDITOR_DENIED = [
    "raw.household_register",
    "raw.verifications",
    "marts.fct_risk_warnings",
    "marts.mart_household_income",
    "staging.stg_household_register__members",
]


def test_analyst_reads_marts_and_reporting_only(county_db):
    readable = {relation: _can_read(county_db, "analyst", relation) for relation in ANALYST_READS + ANALYST_DENIED}
    assert readable == {**dict.fromkeys(ANALYST_READS, True), **dict.fromkeys(ANALYST_DENIED, False)}
    with _as(county_db, "analyst") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege) as denied:
        conn.execute("select person_id, person_name from raw.household_register")
    assert "permission denied for schema raw" in str(denied.value)


def test_analyst_sees_the_same_numbers_as_the_owner(county_db, owner):
    query = "select warning_level, count(*) from marts.fct_risk_warnings where is_open group by 1 order by 1"
    with _as(county_db, "analyst") as conn:
        assert conn.execute(query).fetchall() == owner.execute(query).fetchall() != []


def test_auditor_reads_audit_quarantine_and_lineage_not_raw_or_other_marts(county_db, owner):
    readable = {relation: _can_read(county_db, "auditor", relation) for relation in AUDITOR_READS + AUDITOR_DENIED}
    assert readable == {**dict.fromkeys(AUDITOR_READS, True), **dict.fromkeys(AUDITOR_DENIED, False)}
    ledger = "select count(*), sum(rows_read) from audit.load_batches"
    with _as(county_db, "auditor") as conn:
        assert conn.execute(ledger).fetchone() == owner.execute(ledger).fetchone()


def test_pipeline_role_writes_raw_and_audit_but_analyst_cannot(county_db):
    with _as(county_db, "hm_pipeline") as conn:
        with conn.transaction(force_rollback=True):
            conn.execute("delete from quarantine.medical_settlements")
            conn.execute("update audit.load_batches set message = message")
        conn.execute("create table marts.hm_pipeline_can_create (x int)")
        conn.execute("drop table marts.hm_pipeline_can_create")
    with _as(county_db, "analyst") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("create table marts.analyst_cannot_create (x int)")


def test_grants_survive_a_second_dbt_build(county_db, owner):
    before = owner.execute("select oid from pg_class where oid = 'marts.fct_risk_warnings'::regclass").fetchone()
    run_dbt(["build", "--vars", f"{{as_of_date: '{REPORT_DATE}'}}"], db=county_db, salt=os.environ["HM_ID_SALT"])
    after = owner.execute("select oid from pg_class where oid = 'marts.fct_risk_warnings'::regclass").fetchone()
    assert before != after  # the table was replaced, not altered
    assert _can_read(county_db, "analyst", "marts.fct_risk_warnings")
    assert _can_read(county_db, "analyst", "marts.mart_household_income")  # incremental: kept, not replaced
    assert _can_read(county_db, "auditor", "marts.fct_risk_warning_lineage")
    assert not _can_read(county_db, "auditor", "marts.fct_risk_warnings")
    assert not _can_read(county_db, "analyst", "raw.household_register")


def test_migrating_again_in_parallel_is_safe(county_db, server):
    """Roles are cluster-wide: two databases migrating at once must both succeed."""
    from concurrent.futures import ThreadPoolExecutor

    other = create_database(server, f"hm_test_{secrets.token_hex(4)}")
    try:

        def run(db):
            with connect(db) as conn:
                migrate(conn)
            return True

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(run, [county_db, other, county_db, other])) == [True] * 4
    finally:
        drop_database(server, other.dbname)
