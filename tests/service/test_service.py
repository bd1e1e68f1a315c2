"""The DAG run as a county deploys it: the real scheduler, two Celery workers, a backfill
started beside the daily run, alerts, and a burst of department pushes over NATS JetStream.

One stack (api-server, scheduler, dag-processor, triggerer, 2 Celery workers on Redis,
metadata and Celery results on PostgreSQL) is shared by the module's tests. Everything is
private: the stack's AIRFLOW_HOME under the worktree's ``var/``, free ports on 127.0.0.1,
a random warehouse and metadata database, a random Celery queue and Redis key prefix, a
random JetStream stream. The county is tiny (200 households) to keep the module lean.

The reference is the ``airflow dags test`` path (``hm run``'s) on another database, for
the same dates and landing zone: raw, quarantine, the ledger and every mart must be equal,
batch ids and timestamps aside. It runs in a thread while the stack works through the
backfill (the stack spends much of that time waiting: runs in date order, rescheduled builds),
so the module costs the stack's time, not the sum of both paths.

Needs Redis (127.0.0.1:6379) and NATS JetStream (127.0.0.1:4222): without them it is skipped
with the reason, or fails where ``CI`` or ``HM_REQUIRE_SERVICES=1`` is set (as ``.ci/run`` does).
About 10 minutes on a quiet 2-core machine (9 min 22 s alone, 2026-12-03).
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import secrets
import shutil
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import psycopg
import pytest
from support import SmtpInbox, relation_rows

from household_monitoring import config
from household_monitoring.contracts import load_contracts
from household_monitoring.database import connect, create_database, drop_database, migrate
from household_monitoring.local_runs import DAG_ID, airflow_environment, ensure_airflow_db, run_dag
from household_monitoring.sample_data.generator import generate_county
from household_monitoring.service import push as push_module
from household_monitoring.service.stack import ADMIN_USER, Stack, backfill_dates, free_port, port_open

pytestmark = pytest.mark.e2e
DAYS = [date(2024, 7, 15), date(2024, 7, 16), date(2024, 7, 17)]
HELD_BACK = ("medical_settlements", DAYS[1], "late_export.csv")  # an empty file: rejected, alerted
VOLATILE = ("batch", "_at", "seconds", "dag_run", "superseded_by", "file_path")
#: The stack's liveness threshold (Airflow's default 300 s): a task whose supervisor stops heartbeating this
#: long is failed and retried. Short, so a killed worker's task is retried within seconds, and shorter than
#: every marts build, which must not be killed by it.
HEARTBEAT_TIMEOUT = 20
#: Seconds to wait for the 4 daily runs (a guard against a hung stack, not a target): 31 min were not enough
#: at load average 16-21 (three other sessions on the 2 cores); CI runs alone.
WAIT_RUNS = 3600
#: Rows of the load killed mid-way: the loader streams them through one COPY at ~370,000 rows/s on a quiet
#: machine (README, Benchmarks), so the COPY lasts ~1.6 s there, 16 polls of 0.1 s, and longer under load.
LARGE_ROWS = 600_000
PUSH_SOURCES = ["disability", "education", "employment", "housing_water", "public_welfare_jobs"]


def _require(host: str, port: int, what: str) -> None:
    if port_open(host, port):
        return
    reason = f"{what} is not reachable at {host}:{port}"
    if os.environ.get("CI") or os.environ.get("HM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"CI / HM_REQUIRE_SERVICES=1 and {reason}")
    pytest.skip(reason)


def _webhook_server() -> tuple[HTTPServer, list[dict]]:
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
    return server, received


def _snapshot(db) -> dict[str, list[str]]:
    """raw, quarantine, every mart and the ledger's current batches, batch ids and timestamps aside."""
    with connect(db, autocommit=True) as conn:
        relations = [
            f"{schema}.{name}"
            for schema, name in conn.execute(
                """select table_schema, table_name from information_schema.tables
                   where table_schema in ('marts', 'raw', 'quarantine') order by 1, 2"""
            ).fetchall()
        ]
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


def _delete_stream(name: str) -> None:
    """Remove the module's JetStream stream from the shared NATS server."""

    import nats

    async def delete() -> None:
        client = await nats.connect(push_module.nats_settings()[0], connect_timeout=5)
        try:
            await client.jetstream().delete_stream(name)
        except nats.js.errors.NotFoundError:
            pass
        finally:
            await client.close()

    push_module.run_sync(delete())


class _Reference(threading.Thread):
    """The ``airflow dags test`` path for ``days`` on a database of its own, run beside the stack.

    ``db`` is that database once ``run`` ended; ``error`` what stopped it. The alert channels are
    off for it (its alerts would reach the test's inbox and webhook beside the stack's). ``stop``
    set: no further day is started (the fixture failed; the day running ends by itself).
    """

    def __init__(self, server, days: list[date], log: Path):
        super().__init__(daemon=True)
        self.server, self.days, self.log = server, days, log
        self.db = None
        self.error: BaseException | None = None
        self.seconds = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.perf_counter()
        try:
            self.db = create_database(self.server, f"hm_svc_ref_{secrets.token_hex(4)}")
            env = {**airflow_environment(self.db), "HM_ALERT_EMAIL_TO": "", "HM_ALERT_WEBHOOK_URL": ""}
            ensure_airflow_db(env, self.log)
            for day in self.days:
                if self.stop.is_set():
                    raise RuntimeError("stopped before the dags-test reference ended")
                run_dag(day, env, self.log)  # 2024-07-16 exits 1: its held-back batch fails the run, as on the stack
        except BaseException as exc:  # reported by the fixture
            self.error = exc
        self.seconds = time.perf_counter() - started


def _daily_runs_done(stack: Stack):
    """The daily DAG's runs (run_id, run_type, logical_date, state) once the 3 backfill runs and the daily run ended."""
    rows = _metadata(
        stack,
        "select run_id, run_type, logical_date, state from dag_run where dag_id = %s order by logical_date",
        DAG_ID,
    )
    return rows if len(rows) == 4 and all(r[3] in ("success", "failed") for r in rows) else None


def _daily(service) -> tuple:
    """The scheduled (daily) run: (run_id, run_type, logical_date, state)."""
    return next(r for r in service["runs"] if r[1] == "scheduled")


def _metadata(stack: Stack, sql: str, *params):
    url = stack.state().metadata_url
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def _wait(predicate, timeout: float, what: str, stack: Stack, poll: float = 3.0, killed: frozenset[str] = frozenset()):
    """Poll ``predicate`` until it returns something true; fail when a stack process other than the
    ``killed`` ones died, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        dead = [name for name in stack.state().processes if name not in stack.running() and name not in killed]
        assert not dead, f"{dead} died; logs in {stack.logs}"
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; logs in {stack.logs}")


@pytest.fixture(scope="module")
def service(server, var_dir, tmp_path_factory):
    """The running stack and its warehouse, after a backfill of DAYS started beside the daily run."""
    _require("127.0.0.1", 6379, "Redis (the Celery broker)")
    _require("127.0.0.1", 4222, "NATS JetStream")
    from aiosmtpd.controller import Controller

    tag = secrets.token_hex(4)
    saved = dict(os.environ)
    landing = tmp_path_factory.mktemp("service-landing")
    inbox = SmtpInbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    webhook, hooks = _webhook_server()
    os.environ.update(
        {
            "HM_LANDING_DIR": str(landing),
            "HM_SMTP_HOST": "127.0.0.1",
            "HM_SMTP_PORT": str(smtp.port),
            "HM_ALERT_EMAIL_TO": "data-engineer@county.example",
            "HM_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{webhook.server_port}/alerts",
            "HM_NATS_STREAM": f"HM_PUSHES_TEST_{tag}",
            "HM_NATS_SUBJECT_PREFIX": f"hmtest{tag}.push",
            # A task whose supervisor stops heartbeating for this long is failed and retried (default 300 s):
            # short here so that a killed worker's task is retried within the test; the marts builds last
            # longer than this and must not be killed by it (liveness is the supervisor's heartbeat).
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        }
    )
    county_start = time.perf_counter()
    generate_county(landing, households=200, start=DAYS[0], end=DAYS[-1])
    source, day, name = HELD_BACK
    (landing / source / day.isoformat() / name).write_bytes(b"")
    warehouse = create_database(server, f"hm_svc_{tag}")
    metadata = server.with_dbname(f"hm_svc_{tag}_airflow")
    with connect(warehouse) as conn:
        migrate(conn)
    home = config.PROJECT_ROOT / "var" / f"test-service-{tag}"
    stack = Stack(home)
    reference = None
    try:
        started = time.perf_counter()
        state = stack.start(workers=2, executor="celery", port=free_port(), warehouse=warehouse,
                            metadata=metadata, paused=True, say=lambda m: None)  # fmt: skip
        print(f"stack healthy in {time.perf_counter() - started:.0f} s (county {started - county_start:.0f} s)")
        _wait(
            lambda: _metadata(stack, "select 1 from dag where dag_id = %s", DAG_ID),
            120,
            "the DAG to be parsed",
            stack,
        )
        start, end = backfill_dates(DAYS[0], DAYS[-1])
        created = stack.airflow(
            [
                *("backfill", "create", "--dag-id", DAG_ID, "--from-date", start, "--to-date", end),
                *("--max-active-runs", "1", "--reprocess-behavior", "completed"),
            ]
        )
        assert created.returncode == 0, created.stderr[-3000:]
        # Unpausing starts the backfill and creates the daily run at the same moment.
        for dag_id in (DAG_ID, "household_monitoring_push"):
            unpaused = stack.airflow(["dags", "unpause", dag_id])
            assert unpaused.returncode == 0, unpaused.stderr[-3000:]
        started = time.perf_counter()
        (daily_date,) = _wait(
            lambda: _metadata(
                stack, "select logical_date from dag_run where dag_id = %s and run_type = 'scheduled'", DAG_ID
            ),
            120,
            "the daily run to be created",
            stack,
        )[0]
        reference = _Reference(server, [*DAYS, daily_date.astimezone(_shanghai()).date()], var_dir / "reference.log")
        reference.start()
        runs = _wait(
            lambda: _daily_runs_done(stack),
            WAIT_RUNS,
            "the backfill and the daily run to finish",
            stack,
        )
        print(f"backfill of 3 dates and the daily run: {time.perf_counter() - started:.0f} s on 2 Celery workers")
        reference.join(WAIT_RUNS)
        assert not reference.is_alive(), f"the dags-test reference did not end; see {reference.log}"
        if reference.error is not None:
            raise reference.error
        print(f"the dags-test reference (4 runs, beside the stack): {reference.seconds:.0f} s")
        for task_id, runs_, seconds in _metadata(
            stack,
            """select task_id, count(*), round(sum(extract(epoch from end_date - start_date))) from task_instance
               where dag_id = %s and end_date is not null group by 1 order by 3 desc""",
            DAG_ID,
        ):
            print(f"  {task_id:<32}{runs_:>3} runs {seconds:>6} s")
        yield {
            "stack": stack,
            "state": state,
            "warehouse": warehouse,
            "landing": landing,
            "runs": runs,
            "reference": reference.db,
            "inbox": inbox,
            "hooks": hooks,
        }
    finally:
        if reference is not None:
            reference.stop.set()  # first: the stack's stop takes up to 30 s, the next day would start meanwhile
        stack.stop()
        _delete_stream(os.environ["HM_NATS_STREAM"])
        smtp.stop()
        webhook.shutdown()
        os.environ.clear()
        os.environ.update(saved)
        drop_database(server, warehouse.dbname)
        drop_database(server, metadata.dbname)
        if reference is not None:
            reference.join(WAIT_RUNS)
        if reference is not None and reference.db is not None:
            drop_database(server, reference.db.dbname)
        shutil.rmtree(home, ignore_errors=True)


def _task_logs(stack: Stack, dag_id: str, task_id: str, tail: int = 6000) -> str:
    """The end of each attempt's task log of ``task_id``, newest last: what a failed assertion shows."""
    pattern = f"dag_id={dag_id}/*/task_id={task_id}/attempt=*.log"
    logs = sorted((stack.home / "logs").glob(pattern), key=lambda p: p.stat().st_mtime)
    return "\n".join(f"--- {log}\n{log.read_text(errors='replace')[-tail:]}" for log in logs[-3:])


def _shanghai():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def test_backfill_creates_exactly_the_business_days_and_builds_marts_in_date_order(service):
    stack, runs = service["stack"], service["runs"]
    backfill = [r for r in runs if r[1] == "backfill"]
    assert [r[2].astimezone(_shanghai()).date() for r in backfill] == DAYS
    daily = [r for r in runs if r[1] == "scheduled"]
    assert len(daily) == 1
    latest = daily[0][2].astimezone(_shanghai()).date()
    # 07-16 holds the empty file back: that run fails (audit_day), the others succeed.
    assert {r[2].astimezone(_shanghai()).date(): r[3] for r in runs} == {
        DAYS[0]: "success",
        DAYS[1]: "failed",
        DAYS[2]: "success",
        latest: "success",
    }
    builds = _metadata(
        stack,
        """select r.logical_date, t.start_date, t.end_date from task_instance t join dag_run r using (dag_id, run_id)
           where t.dag_id = %s and t.task_id = 'build_marts' order by t.start_date""",
        DAG_ID,
    )
    assert [b[0] for b in builds] == sorted(b[0] for b in builds), "marts built out of date order"
    for earlier, later in itertools.pairwise(builds):
        assert earlier[2] <= later[1], f"marts builds overlap: {earlier} and {later}"
    with connect(service["warehouse"]) as conn:
        assert conn.execute("select max(as_of_date) from marts.fct_risk_warnings").fetchone()[0] == latest


def test_tasks_ran_on_both_celery_workers(service):
    hosts = _metadata(
        service["stack"],
        "select hostname, count(*) from task_instance where dag_id = %s and hostname <> '' group by 1 order by 1",
        DAG_ID,
    )
    names = sorted(h.split("@")[0] for h, _ in hosts)
    assert names == ["worker-1", "worker-2"], hosts


def test_scheduled_path_equals_the_dags_test_path(service):
    got, expected = _snapshot(service["warehouse"]), _snapshot(service["reference"])
    assert got.keys() == expected.keys()
    different = [relation for relation in got if got[relation] != expected[relation]]
    assert different == []
    with connect(service["warehouse"]) as conn:
        read, loaded, quarantined = conn.execute(
            "select sum(rows_read), sum(rows_loaded), sum(rows_quarantined) from audit.load_batches "
            "where status <> 'superseded'"
        ).fetchone()
    assert read == loaded + quarantined > 0


def test_held_back_batch_and_stale_sources_reach_the_data_engineer(service):
    source, day, name = HELD_BACK
    # Airflow 3 names a run after its run_after (the end of the data interval), not its logical date: the
    # run of business day 2024-07-16 (logical date 2024-07-15T16:00Z) is backfill__2024-07-16T16:00:00+00:00.
    (run_id,) = [r[0] for r in service["runs"] if r[2].astimezone(_shanghai()).date() == day]
    subjects = [message["Subject"] for _, message in service["inbox"].messages]
    held = [m for _, m in service["inbox"].messages if "batch held back" in m["Subject"] and run_id in m.get_content()]
    assert len(held) == 1, subjects
    text = held[0].get_content()
    assert f"source:  {source}" in text and f"file:    {name}" in text
    assert "the file is empty" in text
    hooks = [h for h in service["hooks"] if h["kind"] == "held_back_batch" and h["run_id"] == run_id]
    assert [(h["source"], h["file"], h["logical_date"], h["task_id"]) for h in hooks] == [
        (source, name, day.isoformat(), f"{source}.ingest")
    ]
    # The daily run's date had no file from any source: one stale-source alert per source (the 11 contracts:
    # ten departments and the village officials' roster) and channel.
    daily = _daily(service)
    stale = [h for h in service["hooks"] if h["kind"] == "stale_source" and h["run_id"] == daily[0]]
    sources = sorted(load_contracts())
    assert len(sources) == 11
    assert sorted(h["source"] for h in stale) == sources
    assert all(h["problem"].startswith(f"no file from {h['source']} for ") for h in stale)
    assert sum(1 for s in subjects if s.startswith("[household monitoring] stale source")) >= len(sources)


def test_a_burst_of_five_pushes_loads_each_file_once_and_rebuilds_the_marts(service):
    stack, landing, warehouse = service["stack"], service["landing"], service["warehouse"]
    day = _daily(service)[2].astimezone(_shanghai()).date()
    pushes = []
    for source in PUSH_SOURCES:
        original = sorted((landing / source / DAYS[0].isoformat()).iterdir())[0]
        target = landing / source / day.isoformat() / f"push_{original.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, target)
        pushes.append(push_module.Push(source, day, target.name))
    sent = time.perf_counter()
    push_module.publish(pushes)  # a burst: five messages back to back
    push_module.publish(pushes[:1])  # and one delivered twice (at least once)

    def loaded():
        with connect(warehouse) as conn:
            rows = conn.execute(
                """select source, file_name, status from audit.load_batches
                   where logical_date = %s and file_name like 'push\\_%%' order by source""",
                (day,),
            ).fetchall()
        runs = _metadata(
            stack, "select state from dag_run where dag_id = 'household_monitoring_push' order by start_date"
        )
        done = runs and all(state in ("success", "failed") for (state,) in runs)
        return rows if len(rows) == 5 and done else None

    rows = _wait(loaded, 900, "the five pushes to be loaded", stack, poll=1.0)
    print(f"push -> loaded and marts rebuilt: {time.perf_counter() - sent:.1f} s for a burst of 5")
    assert [(s, f, st) for s, f, st in rows] == [(p.source, p.file, "published") for p in pushes]
    states = _metadata(stack, "select state from dag_run where dag_id = 'household_monitoring_push'")
    assert states and {s for (s,) in states} == {"success"}, states
    with connect(warehouse) as conn:
        assert conn.execute("select max(as_of_date) from marts.fct_risk_warnings").fetchone()[0] == day


def test_an_open_analyst_transaction_stops_the_build_naming_the_session_then_the_retry_succeeds(service, monkeypatch):
    from household_monitoring.pipeline import MartsLocked, build_marts

    warehouse = service["warehouse"]
    day = _daily(service)[2].astimezone(_shanghai()).date()
    monkeypatch.setenv("HM_MARTS_LOCK_TIMEOUT", "3")
    analyst = psycopg.connect(warehouse.url, application_name="analyst-notebook")
    analyst.execute("select count(*) from marts.mart_household_risk")  # begin; select ...; (left open)
    try:
        with pytest.raises(MartsLocked) as stopped:
            build_marts(day, warehouse)
        message = str(stopped.value)
        assert f"pid {analyst.info.backend_pid} (user {warehouse.user}, application analyst-notebook" in message
        assert "idle in transaction" in message and "marts.mart_household_risk" in message
        assert "waited 3 s (HM_MARTS_LOCK_TIMEOUT)" in message
    finally:
        analyst.rollback()
        analyst.close()
    build_marts(day, warehouse)  # the retry, once the analyst's transaction ended
    with connect(warehouse) as conn:
        assert conn.execute("select max(as_of_date) from marts.mart_household_risk").fetchone()[0] == day


def test_long_marts_builds_are_not_killed_by_the_liveness_checks(service):
    """The stack's liveness threshold is HEARTBEAT_TIMEOUT instead of 300 s: a build longer than it
    (as a province's 5-minute build is longer than 300 s) must end by itself, in its first try."""
    # The four runs the fixture waited for: when the clock passes midnight in Shanghai (16:00 UTC)
    # during the module, the scheduler starts the next day's run too, which is not one of them.
    builds = _metadata(
        service["stack"],
        """select t.run_id, t.try_number, t.state, extract(epoch from t.end_date - t.start_date),
                  exists (select 1 from task_reschedule r where r.ti_id = t.id)
           from task_instance t where t.dag_id = %s and t.task_id = 'build_marts' and t.run_id = any(%s)""",
        DAG_ID,
        [run_id for run_id, *_ in service["runs"]],
    )
    assert len(builds) == 4
    assert all((try_number, state) == (1, "success") for _, try_number, state, *_ in builds), builds
    # A build that waited for an earlier run (rescheduled) counts its waits in start..end: only the others
    # measure dbt itself. The first business day's build never waits (no earlier run).
    longest = max(seconds for *_, seconds, rescheduled in builds if not rescheduled)
    print(f"longest marts build {longest:.0f} s; heartbeat timeout {HEARTBEAT_TIMEOUT} s")
    assert longest > HEARTBEAT_TIMEOUT, "no build outlasted the heartbeat timeout: the check proves nothing"


def test_a_new_user_sees_both_dags_in_the_ui_and_its_backfill_form_takes_business_days(service, browser):
    """README's path in the Airflow UI: log in as admin with the generated password, the two DAGs
    are listed; the DAG's Trigger -> Backfill form, in a browser in Asia/Shanghai (a county's), reads
    2024-07-15 00:00 .. 2024-07-17 00:00 as the 3 business days (its dry run; nothing is created).
    The form reads dates in the browser's timezone: in UTC the same entries are 2 runs (07-16, 07-17)."""
    stack = service["stack"]
    url = stack.state().url
    context = browser.new_context(timezone_id="Asia/Shanghai")
    try:
        page = context.new_page()
        page.goto(f"{url}/dags")
        page.wait_for_url("**/auth/login**", timeout=60_000)
        page.locator("input[name=username]").fill(ADMIN_USER)
        page.locator("input[name=password]").fill(stack.admin_password())
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda u: "/auth/login" not in u, timeout=60_000)
        page.goto(f"{url}/dags")
        for dag_id in (DAG_ID, "household_monitoring_push"):
            page.get_by_role("link", name=dag_id, exact=True).wait_for(timeout=60_000)
        page.goto(f"{url}/dags/{DAG_ID}")
        page.get_by_role("button", name="Trigger").first.click()
        form = page.locator("[role=dialog][data-state=open]")
        form.get_by_text("Backfill", exact=True).click()
        form.get_by_text("All Runs", exact=True).click()  # the days have runs: the CLI's --reprocess-behavior completed
        for field, day in enumerate(("2024/07/15", "2024/07/17")):
            form.get_by_test_id("datetime-input").nth(field).click()
            picker = page.locator("[data-scope=popover][data-part=content][data-state=open]")
            assert "Asia/Shanghai" in picker.inner_text()
            picker.get_by_placeholder("YYYY/MM/DD").fill(day)
            picker.get_by_placeholder("HH:mm").fill("00:00")
            picker.get_by_placeholder("HH:mm").press("Enter")
            page.wait_for_timeout(500)
            if picker.count():  # still open: close it (Escape on a closed picker would close the form)
                page.keyboard.press("Escape")
            picker.wait_for(state="detached", timeout=10_000)
        form.get_by_text("3 runs will be triggered.").wait_for(timeout=30_000)
    finally:
        context.close()


def _large_settlements(landing: Path, day: date, name: str) -> Path:
    """LARGE_ROWS settlements (GBK), each a copy of a good sample row under its own settlement id.

    Parsed and written with ``csv``: the sample quotes every field, and an id appended after the
    closing quote (``"JS…"K0000001``) is a malformed field, which the loader rightly quarantines.
    """
    source = next(iter(sorted((landing / "medical_settlements" / DAYS[-1].isoformat()).iterdir())))
    with open(source, encoding="gbk", newline="") as sample:
        header, row = itertools.islice(csv.reader(sample), 2)
    target = landing / "medical_settlements" / day.isoformat() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="gbk", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows([f"{row[0]}K{i:07d}", *row[1:]] for i in range(LARGE_ROWS))
    return target


def test_kill_9_of_the_worker_in_a_large_load_then_the_retry_completes_on_the_other_worker(service):
    stack, warehouse = service["stack"], service["warehouse"]
    day = _daily(service)[2].astimezone(_shanghai()).date()
    path = _large_settlements(service["landing"], day, "large_push.csv")
    push_module.publish([push_module.Push("medical_settlements", day, path.name)])

    def copying():
        with connect(warehouse.with_dbname("postgres"), autocommit=True) as conn:
            busy = conn.execute(
                "select 1 from pg_stat_activity where datname = %s and query ilike 'copy raw.medical_settlements%%'",
                (warehouse.dbname,),
            ).fetchone()
        running = _metadata(
            stack,
            """select hostname from task_instance where dag_id = 'household_monitoring_push'
               and task_id = 'load_pushes' and state = 'running' and hostname <> ''""",
        )
        return running[0][0] if busy and running else None

    host = _wait(copying, 900, "the large load to be copying", stack, poll=0.1)
    victim = host.split("@")[0]
    assert stack.kill(victim)
    with connect(warehouse) as conn:  # the killed attempt's transaction is rolled back: nothing of it stays
        assert (
            conn.execute(
                "select count(*) from audit.load_batches where file_name = %s and status = 'published'", (path.name,)
            ).fetchone()[0]
            == 0
        )

    def retried():
        rows = _metadata(
            stack,
            """select try_number, state, hostname from task_instance where dag_id = 'household_monitoring_push'
               and task_id = 'load_pushes' and try_number > 1 and state in ('success', 'failed')""",
        )
        return rows or None

    try_number, state, hostname = _wait(
        retried, 900, "the retry of the killed load", stack, killed=frozenset({victim})
    )[0]
    assert (try_number, state) == (2, "success"), _task_logs(stack, "household_monitoring_push", "load_pushes")
    assert hostname.split("@")[0] != victim
    with connect(warehouse) as conn:
        batches = conn.execute(
            """select batch_id, status, rows_read, rows_loaded, rows_quarantined from audit.load_batches
               where file_name = %s and status <> 'superseded'""",
            (path.name,),
        ).fetchall()
        assert len(batches) == 1 and batches[0][1] == "published", batches
        batch_id, _, read, loaded, quarantined = batches[0]
        assert (read, loaded, quarantined) == (LARGE_ROWS, LARGE_ROWS, 0)  # every copy is a good row
        in_raw = conn.execute("select count(*) from raw.medical_settlements where _batch_id = %s", (batch_id,))
        assert in_raw.fetchone()[0] == loaded
