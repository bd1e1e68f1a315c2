"""Re-runs equal a single clean run: an Airflow retry of a failed load, a re-run of a past
logical date and a backfill of the range, at the level of the pipeline functions the DAG
tasks call (``ingest_source``, ``build_marts``, ``audit_day``); plus the per-source
scorecard and the freshness alert on the same data.

Two databases get the same landing zone: one is loaded once, day by day (the clean
run); the other goes through a load that crashes between loading and publishing and
is retried, the range, a re-run of the first day and a backfill of the whole range.
Every table and view of the staging and marts schemas, the ledger's current batches and
the raw and quarantine tables must then hold the same rows (batch ids and timestamps
aside, which differ by construction).
"""

from __future__ import annotations

import csv
import re
import shutil
from datetime import date
from decimal import Decimal

import pytest
from stdnum.cn import ric
from support import migrated_database, relation_rows

from household_monitoring.contracts import load_contracts
from household_monitoring.database import connect
from household_monitoring.pipeline import SourceFailed, audit_day, build_marts, ingest_source
from household_monitoring.sample_data.generator import generate_county

pytestmark = pytest.mark.e2e
DAYS = [date(2024, 7, 15), date(2024, 7, 16), date(2024, 7, 17)]
SILENT = ("medical_settlements", DAYS[1])  # a department that sends nothing one day (its folder is removed)
VOLATILE = ("batch", "_at", "seconds", "dag_run", "superseded_by")
CORRECTION: dict = {}  # the settlement corrected on the last day, and its corrected out-of-pocket
UNREGISTERED_ID = "653129199510030000"  # valid MOD 11-2, its last three digits zeroed, in no register


def _clean_settlement(header: list[str], row: list[str]) -> bool:
    """A row the loader takes (the sample has deliberately damaged ones) with more than 100 yuan out of pocket."""
    amounts = [
        row[header.index(h)] for h in ("医疗总费用", "基本医保统筹支付", "大病保险支付", "医疗救助支付", "个人自付")
    ]
    if not all(re.fullmatch(r"\d+\.\d{2}", a) for a in amounts) or not ric.is_valid(row[1]):
        return False
    total, *paid = map(Decimal, amounts)
    return total - sum(paid[:3]) == paid[3] > 100 and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in row[4:6])


@pytest.fixture(scope="module")
def landing(tmp_path_factory, var_dir):
    path = tmp_path_factory.mktemp("landing_reruns")
    generate_county(path, households=400, start=DAYS[0], end=DAYS[-1])
    shutil.rmtree(path / SILENT[0] / SILENT[1].isoformat(), ignore_errors=True)
    # A correction on the last day of a settlement sent on the first: 10.00 yuan moved from the
    # household to medical assistance (the row still balances).
    first = next((path / "medical_settlements" / DAYS[0].isoformat()).iterdir())
    with open(first, encoding="gbk", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    row = next(r for r in rows if _clean_settlement(header, r))
    row[header.index("医疗救助支付")] = str(Decimal(row[header.index("医疗救助支付")]) + 10)
    row[header.index("个人自付")] = str(Decimal(row[header.index("个人自付")]) - 10)
    # And a settlement of a person in no register: an ID whose last digits a spreadsheet zeroed
    # (653129199510030000 still passes MOD 11-2). It loads, links to no household, and is listed.
    stray = list(row)
    stray[0], stray[header.index("身份证号")] = row[0] + "Z", UNREGISTERED_ID
    for column, amount in (("医疗总费用", "300.00"), ("基本医保统筹支付", "0.00"), ("大病保险支付", "0.00")):
        stray[header.index(column)] = amount
    stray[header.index("医疗救助支付")], stray[header.index("个人自付")] = "0.00", "300.00"
    with open(path / "medical_settlements" / DAYS[-1].isoformat() / "corrections.csv", "w", encoding="gbk") as fh:
        csv.writer(fh).writerows([header, row, stray])
    CORRECTION.update(settlement_id=row[0], out_of_pocket=Decimal(row[header.index("个人自付")]), stray_id=stray[0])
    return path


def _ingest_day(db, landing, day: date) -> list[str]:
    """Every source's ingest for one day, as the DAG's task groups run it; returns what was held back."""
    held = []
    for source in load_contracts():
        try:
            ingest_source(source, day, db, landing)
        except FileNotFoundError:
            continue
        except SourceFailed as failed:
            held.append(str(failed))
    return held


def _snapshot(db) -> dict[str, list[str]]:
    with connect(db, autocommit=True) as conn:
        relations = [
            f"{schema}.{name}"
            for schema, name in conn.execute(
                """select table_schema, table_name from information_schema.tables
                   where table_schema in ('staging', 'intermediate', 'marts', 'raw', 'quarantine')
                   order by 1, 2"""
            ).fetchall()
        ]
        # The ledger view lists every attempt, superseded ones too: a re-run adds history by
        # design. Its current batches are compared below ("ledger").
        relations.remove("staging.stg_audit__load_batches")
        snapshot = {relation: relation_rows(conn, relation, VOLATILE) for relation in relations}
        snapshot["ledger"] = sorted(
            map(
                str,
                conn.execute(
                    """select source, logical_date, file_name, file_hash, status, rows_read, rows_loaded,
                              rows_quarantined from audit.load_batches where status <> 'superseded'"""
                ).fetchall(),
            )
        )
    return snapshot


@pytest.fixture(scope="module")
def clean(server, landing, var_dir):
    """The clean run: each day once, in order, then the marts as of the last day."""
    with migrated_database(server) as db:
        audits = {}
        for day in DAYS:
            assert _ingest_day(db, landing, day) == []
            audits[day] = audit_day(day, db)
        build_marts(DAYS[-1], db)
        yield db, audits, _snapshot(db)


def test_retry_rerun_and_backfill_equal_a_single_clean_run(clean, fresh_db, landing, monkeypatch):
    from household_monitoring import quality

    real_validate = quality.validate_batch
    crashed = []

    def crash_once(conn, db, contract, batch_id):
        if contract.source == "medical_settlements" and not crashed:
            crashed.append(batch_id)
            raise ConnectionError("worker lost between load and publish")  # the task fails; Airflow retries
        return real_validate(conn, db, contract, batch_id)

    monkeypatch.setattr(quality, "validate_batch", crash_once)
    with pytest.raises(ConnectionError):
        ingest_source("medical_settlements", DAYS[0], fresh_db, landing)
    monkeypatch.setattr(quality, "validate_batch", real_validate)
    with connect(fresh_db, autocommit=True) as conn:
        status = conn.execute("select status from audit.load_batches where batch_id = %s", crashed).fetchone()[0]
    assert status == "loaded"  # loaded, never published: staging does not read it
    for day in DAYS:  # the retry, and the rest of the range
        assert _ingest_day(fresh_db, landing, day) == []
    assert _ingest_day(fresh_db, landing, DAYS[0]) == []  # a re-run of a past logical date
    for day in DAYS:  # a backfill of the whole range
        assert _ingest_day(fresh_db, landing, day) == []
    build_marts(DAYS[-1], fresh_db)
    _, _, expected = clean
    actual = _snapshot(fresh_db)
    assert sorted(actual) == sorted(expected)
    differing = [relation for relation in expected if actual[relation] != expected[relation]]
    assert differing == []
    assert len(expected["marts.fct_risk_warnings"]) > 0 and len(expected["raw.medical_settlements"]) > 0
    with connect(fresh_db, autocommit=True) as conn:
        superseded = conn.execute(
            "select count(*) from audit.load_batches where source = 'medical_settlements' and status = 'superseded'"
        ).fetchone()[0]
    assert superseded == 1 + 1 + 3  # the crashed load, the re-run day's batch, the backfilled range (3 files)


def test_the_scorecard_and_the_freshness_alert(clean, landing):
    db, audits, _ = clean
    for day in DAYS:  # the sample county sends most extracts on its first day only
        silent = sorted(s for s in load_contracts() if not (landing / s / day.isoformat()).is_dir())
        assert audits[day]["sources_without_file"] == silent
    assert audits[DAYS[0]]["sources_without_file"] == ["verifications"]
    assert SILENT[0] in audits[SILENT[1]]["sources_without_file"]
    with connect(db, autocommit=True) as conn:
        rows = conn.execute(
            """select source_name, logical_date, files_received, rows_read, rows_loaded, rows_quarantined,
                      validity_pct, freshness_alert, days_since_last_published, is_stale
               from marts.fct_source_daily_scorecard order by source_name, logical_date"""
        ).fetchall()
        ledger = conn.execute(
            """select source, logical_date, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined)
               from audit.load_batches where status <> 'superseded' group by 1, 2"""
        ).fetchall()
    assert len(rows) == len(load_contracts()) * len(DAYS)  # every source every day, also silent ones
    by_key = {(r[0], r[1]): r for r in rows}
    for source, day, files, read, loaded, quarantined in ledger:
        assert by_key[(source, day)][2:6] == (files, read, loaded, quarantined)
    silent = by_key[SILENT]
    assert silent[2:] == (0, 0, 0, 0, None, True, 1, False)  # nothing sent; published yesterday; not stale
    medical = by_key[("medical_settlements", DAYS[0])]
    assert medical[7] is False and medical[8] == 0
    assert medical[6] == (Decimal(100 * medical[4]) / medical[3]).quantize(Decimal("0.01"))


def test_a_correction_in_a_later_file_wins_in_staging_and_both_versions_stay_in_raw(clean):
    db, _, _ = clean
    with connect(db, autocommit=True) as conn:
        staged = conn.execute(
            """select out_of_pocket, known_on, source_file_name from staging.stg_medical_settlements__settlements
               where settlement_id = %s""",
            (CORRECTION["settlement_id"],),
        ).fetchall()
        versions = conn.execute(
            "select _logical_date, out_of_pocket from raw.medical_settlements where settlement_id = %s order by 1",
            (CORRECTION["settlement_id"],),
        ).fetchall()
    assert staged == [(CORRECTION["out_of_pocket"], DAYS[0], "corrections.csv")]  # known since the first day
    assert versions == [(DAYS[0], CORRECTION["out_of_pocket"] + 10), (DAYS[-1], CORRECTION["out_of_pocket"])]


def test_a_record_of_a_person_in_no_register_is_listed_and_counted_never_dropped(clean):
    db, _, _ = clean
    with connect(db, autocommit=True) as conn:
        listed = conn.execute(
            """select source_name, is_id_suspect_zeroed, amount_kind, amount_yuan, batch_logical_date,
                      source_file_name, source_row_number
               from marts.fct_unregistered_person_records where record_id = %s""",
            (CORRECTION["stray_id"],),
        ).fetchall()
        counts = conn.execute(
            """select s.source_name, s.logical_date, s.rows_person_unregistered,
                      (select count(*) from marts.fct_unregistered_person_records u
                       where u.source_name = s.source_name and u.batch_logical_date = s.logical_date)
               from marts.fct_source_daily_scorecard s order by 1, 2"""
        ).fetchall()
    assert listed == [("medical_settlements", True, "out_of_pocket", Decimal("300.00"), DAYS[-1], "corrections.csv", 3)]
    assert all(r[2] == r[3] for r in counts)  # the scorecard's count is the list's, per source and day
    assert {(r[0], r[1]) for r in counts if r[2]} >= {("medical_settlements", DAYS[-1])}
