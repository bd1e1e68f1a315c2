"""The service's pieces that need no running stack: executor choice, secrets, backfill dates, alerts, pushes."""

from __future__ import annotations

import asyncio
import json
import stat
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pendulum
import pytest

from household_monitoring.service import alerts
from household_monitoring.service.push import Push, run_sync
from household_monitoring.service.stack import (
    Stack,
    StackError,
    StackState,
    backfill_dates,
    choose_executor,
    free_port,
    load_secrets,
)


def test_without_a_reachable_broker_the_stack_says_so_and_runs_the_local_executor():
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    said = []
    assert choose_executor(2, "auto", dead, said.append) == "LocalExecutor"
    assert said == [f"no Celery broker reachable at {dead} (HM_CELERY_BROKER_URL): running the LocalExecutor"]
    assert choose_executor(0, "auto", dead, said.append) == "LocalExecutor"
    with pytest.raises(StackError, match="does not answer"):
        choose_executor(2, "celery", dead)


def test_secrets_are_generated_once_private_and_shared_by_every_process(tmp_path, test_db):
    first = load_secrets(tmp_path)
    assert load_secrets(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
    assert set(first) == {"jwt_secret", "fernet_key", "api_secret_key", "stack_id"}
    state = StackState("CeleryExecutor", 18080, 2, test_db.url, "redis://127.0.0.1:6379/0", "hm-x")
    env = Stack(tmp_path).environment(state, test_db)
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == first["jwt_secret"]
    assert env["AIRFLOW__CORE__FERNET_KEY"] == first["fernet_key"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Asia/Shanghai"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")
    assert env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX"] == "hm-x:"


def test_commands_against_the_stack_use_the_warehouse_it_was_started_on(tmp_path, monkeypatch, var_dir):
    """`hm stack backfill` after `hm stack start` on the private PostgreSQL: no variable names that server."""
    for name in ("HM_DATABASE_URL", "PGHOST", "PGPORT", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    private = "postgresql://postgres@127.0.0.1:54329/household_monitoring"
    state = StackState("LocalExecutor", 18080, 0, private + "_airflow", None, "hm-x", warehouse_url=private)
    Stack(tmp_path)._save(state)
    env = Stack(tmp_path).command_environment()
    assert (env["HM_DATABASE_URL"], env["AIRFLOW_CONN_HM_WAREHOUSE"]) == (private, private)
    assert (env["HM_DB_PORT"], env["HM_DB_NAME"]) == ("54329", "household_monitoring")


def test_backfill_dates_are_business_days_in_shanghai():
    assert backfill_dates(date(2024, 7, 16), date(2024, 7, 17)) == (
        "2024-07-16T00:00:00+08:00",
        "2024-07-17T00:00:00+08:00",
    )


def test_push_payload_round_trip_and_errors():
    push = Push("medical_settlements", date(2024, 7, 17), "a.csv")
    assert Push.from_payload(push.payload()) == push
    with pytest.raises(ValueError, match="logical_date"):
        Push.from_payload({"source": "x", "file": "a.csv"})


def test_publishing_works_where_an_event_loop_already_runs():
    """``hm push``'s synchronous call from code that runs an event loop (a notebook, Playwright's sync API)."""

    async def answer(value):
        await asyncio.sleep(0)
        if value < 0:
            raise ValueError("negative")
        return value * 2

    async def caller():
        threads = set()

        async def where():
            threads.add(threading.current_thread().name)
            return await answer(21)

        value = run_sync(where())  # a loop runs in this thread: asyncio.run alone would refuse
        with pytest.raises(ValueError, match="negative"):
            run_sync(answer(-1))
        return value, threads

    assert run_sync(caller()) == (42, {"hm-push-publish"})
    assert run_sync(answer(5)) == 10


@pytest.fixture
def hooks(monkeypatch):
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HM_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/")
    monkeypatch.delenv("HM_ALERT_EMAIL_TO", raising=False)
    yield received
    server.shutdown()


def _context(task_id: str, error: Exception | None = None) -> dict:
    ti = SimpleNamespace(dag_id="household_monitoring_daily", task_id=task_id)
    return {
        "ti": ti,
        "run_id": "scheduled__2024-07-16T16:00:00+00:00",
        "logical_date": pendulum.datetime(2024, 7, 16, 16, tz="UTC"),
        "exception": error,
    }


def test_a_failed_task_alert_names_run_task_date_and_problem(hooks):
    sent = alerts.on_task_failure(_context("build_marts", RuntimeError("dbt build failed: model x")))
    assert [a.kind for a in sent] == ["failed_task"]
    assert hooks == [
        {
            "kind": "failed_task",
            "dag_id": "household_monitoring_daily",
            "run_id": "scheduled__2024-07-16T16:00:00+00:00",
            "task_id": "build_marts",
            "logical_date": "2024-07-17",
            "source": "",
            "file": "",
            "problem": "RuntimeError: dbt build failed: model x",
        }
    ]


def test_a_held_back_file_is_named_from_the_ledger(hooks, fresh_db):
    from household_monitoring.database import connect

    with connect(fresh_db) as conn:
        conn.execute(
            """insert into audit.load_batches (source, logical_date, file_name, file_path, file_hash, file_bytes,
                                               status, dag_run_id, started_at, message)
               values ('employment', '2024-07-17', 'jobs.csv', '/l/jobs.csv', '', 0, 'rejected',
                       'scheduled__2024-07-16T16:00:00+00:00', now(), 'jobs.csv: the file is empty (no header)')"""
        )
        conn.commit()
    alerts.on_task_failure(_context("employment.ingest", RuntimeError("held back")), db=fresh_db)
    assert [(h["kind"], h["source"], h["file"], h["problem"]) for h in hooks] == [
        ("held_back_batch", "employment", "jobs.csv", "jobs.csv: the file is empty (no header)")
    ]


def test_stale_sources_alert_one_per_source(hooks, tmp_path):
    alerts.stale_sources(_context("audit_day"), ["disability", "education"], landing=tmp_path)
    assert [(h["kind"], h["source"], h["file"]) for h in hooks] == [
        ("stale_source", "disability", str(tmp_path / "disability" / "2024-07-17")),
        ("stale_source", "education", str(tmp_path / "education" / "2024-07-17")),
    ]
    assert (
        hooks[0]["problem"] == f"no file from disability for 2024-07-17 (expected in {tmp_path}/disability/2024-07-17)"
    )
