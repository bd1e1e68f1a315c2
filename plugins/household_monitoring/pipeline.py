"""The work of the daily DAG, one function per task, free of Airflow.

Each function takes the logical date it works for (never "now") and the
warehouse, and gives the same result when run again: a re-run of a date
supersedes that date's batches (see ``loading``), and dbt rebuilds the marts as of
the date. The DAG in ``dags/`` only wires these functions together.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import psycopg

from household_monitoring.config import Database, landing_dir, var_dir
from household_monitoring.contracts import load_contracts
from household_monitoring.database import connect, migrate

log = logging.getLogger(__name__)


class SourceFailed(RuntimeError):
    """A source's batch was rejected or failed the quality gate; the message names files and problems.

    ``day``: what the source's ingest did that date (``SourceDay``: every file's rows, the
    held-back ones included), when it got that far; ``None`` otherwise.
    """

    def __init__(self, message: str, day: SourceDay | None = None) -> None:
        super().__init__(message)
        self.day = day


@dataclass
class SourceDay:
    """What a source's ingest did for one logical date (XCom-serialisable via ``asdict``)."""

    source: str
    logical_date: str
    files: int
    published: list[int]
    held_back: list[str]
    rows_read: int
    rows_loaded: int
    rows_quarantined: int


def id_salt() -> str:
    """The salt of person keys: ``HM_ID_SALT``, else one generated once into ``var/`` (never the repo)."""
    salt = os.environ.get("HM_ID_SALT")
    if salt:
        return salt
    path = var_dir() / "id_salt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def prepare_warehouse(db: Database) -> None:
    """Create the pipeline's schemas and tables (idempotent)."""
    with connect(db) as conn:
        migrate(conn)


def ingest_source(
    source: str, logical_date: date, db: Database, landing: Path | None = None, dag_run_id: str | None = None
) -> SourceDay:
    """Load, validate and publish every file of ``source`` landed for ``logical_date``.

    The warehouse is made to match the landing folder: batches of files that are no
    longer there are withdrawn first (see ``loading.withdraw_missing``).
    Returns a ``SourceDay``. Raises ``SourceFailed`` when a file was rejected or
    failed the gate (the other files of the day are still published), and
    ``FileNotFoundError`` when no file landed (the DAG marks the source skipped).
    """
    from household_monitoring.loading import landed_files, load_file, withdraw_missing

    contract = load_contracts()[source]
    files = landed_files(landing or landing_dir(), contract, logical_date)
    with connect(db) as conn:
        withdrawn = withdraw_missing(conn, contract, logical_date, [p.name for p in files])
    if withdrawn:
        log.warning("%s %s: withdrawn, no longer in the landing zone: %s", source, logical_date, ", ".join(withdrawn))
    if not files:
        raise FileNotFoundError(
            f"{source}: no file matching {contract.file_pattern} in "
            f"{(landing or landing_dir()) / source / logical_date.isoformat()}"
        )
    from household_monitoring.quality import validate_batch  # Great Expectations: ~5 s, only when a file landed

    day = SourceDay(source, logical_date.isoformat(), len(files), [], [], 0, 0, 0)
    with connect(db) as conn:
        for path in files:
            loaded = load_file(conn, contract, path, logical_date, dag_run_id=dag_run_id)
            day.rows_read += loaded.rows_read
            day.rows_loaded += loaded.rows_loaded
            day.rows_quarantined += loaded.rows_quarantined
            gate = validate_batch(conn, db, contract, loaded.batch_id)
            if gate.status == "published":
                day.published.append(loaded.batch_id)
            else:
                day.held_back.append(gate.message or f"{path.name}: {gate.status}")
    if day.held_back:
        raise SourceFailed("; ".join(day.held_back), day)
    return day


#: Key of the PostgreSQL advisory lock held during a marts build: one build at a time per warehouse.
MARTS_LOCK = "household_monitoring.build_marts"
#: Seconds a dbt statement waits for a table lock (``HM_MARTS_LOCK_TIMEOUT``) before the build stops.
DEFAULT_MARTS_LOCK_TIMEOUT = 120


class MartsLocked(RuntimeError):
    """The marts build waited longer than the lock timeout for a lock another session holds; names that session."""


#: Seconds between two heartbeats of a running build (``audit.marts_builds.heartbeat_at``).
HEARTBEAT_SECONDS = 10
#: A running build whose heartbeat is older than this many seconds has lost its process.
HEARTBEAT_STALE_SECONDS = 60
#: Seconds the next build waits at most for a running build that still beats (``HM_ABANDONED_BUILD_WAIT``).
DEFAULT_ABANDONED_BUILD_WAIT = 3600
ABANDONED = "abandoned: its process ended before the build finished (killed, or its connection lost)"


class _Heartbeat:
    """Sets ``heartbeat_at`` of a running build every ``HEARTBEAT_SECONDS`` from a thread, on a connection
    of its own (opened again after a fault), until :meth:`stop`. The build's row then shows whether
    its process still lives, whatever becomes of the connection that holds the marts lock."""

    def __init__(self, db: Database, build_id: int):
        self.db, self.build_id = db, build_id
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"marts-build-{build_id}-heartbeat", daemon=True)
        self.thread.start()

    def _beat(self) -> None:
        conn = None
        while not self.done.wait(HEARTBEAT_SECONDS):
            try:
                conn = conn if conn is not None and not conn.closed else connect(self.db, autocommit=True)
                conn.execute(
                    "update audit.marts_builds set heartbeat_at = now() where build_id = %s and status = 'running'",
                    (self.build_id,),
                )
            except psycopg.Error as error:  # the next beat tries a new connection
                log.warning("marts build %s: heartbeat not recorded: %s", self.build_id, error)
                with contextlib.suppress(Exception):
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def close_abandoned_builds(
    lock: psycopg.Connection, poll_seconds: float = 5.0, stale_seconds: float = HEARTBEAT_STALE_SECONDS
) -> list[int]:
    """Mark the builds left ``running`` whose process ended as ``failed`` (abandoned); return their ids.

    Call holding ``MARTS_LOCK``. A build stays ``running`` when its process was killed, or when
    its lock connection alone was lost (``pg_terminate_backend``, a network fault) while its dbt
    run goes on: then the lock is free, and the caller would build beside it. Its heartbeat
    (``heartbeat_at``, set every ``HEARTBEAT_SECONDS`` by its process) tells them apart: while a
    running build's heartbeat is younger than ``stale_seconds`` (60), this waits, checking every
    ``poll_seconds``, until it ends (it records its end on a new connection) or its heartbeat stops,
    at most ``HM_ABANDONED_BUILD_WAIT`` seconds (default 3600: a build alive but hung).
    A killed build is therefore closed at most ``stale_seconds`` after its last heartbeat; with no
    build left running this returns at once.
    """
    wait = float(os.environ.get("HM_ABANDONED_BUILD_WAIT") or DEFAULT_ABANDONED_BUILD_WAIT)
    deadline = time.monotonic() + wait
    said = False
    while True:
        live = lock.execute(
            """select build_id from audit.marts_builds
               where status = 'running' and heartbeat_at > statement_timestamp() - make_interval(secs => %s)""",
            (stale_seconds,),
        ).fetchall()
        if not live:
            break
        if time.monotonic() >= deadline:  # alive but not ending (a session hung on a dead connection?)
            log.warning("marts builds %s still beat after %.0f s (HM_ABANDONED_BUILD_WAIT): closed as abandoned",
                        [b for (b,) in live], wait)  # fmt: skip
            break
        if not said:
            log.warning("marts builds %s still run without the marts lock (their lock connection was lost): "
                        "waiting for them to end", [b for (b,) in live])  # fmt: skip
            said = True
        time.sleep(poll_seconds)
    abandoned = lock.execute(
        "update audit.marts_builds set status = 'failed', finished_at = now(), problem = %s "
        "where status = 'running' returning build_id",
        (ABANDONED,),
    ).fetchall()
    if abandoned:
        log.warning("marts builds %s were left running by a process that ended: marked failed",
                    ", ".join(str(b) for (b,) in abandoned))  # fmt: skip
    return [b for (b,) in abandoned]


def blocking_sessions(db: Database) -> list[str]:
    """Other sessions holding a lock on a table or view of the dbt schemas, described for a person.

    Each item: ``pid N (user U, application A, client C, <state> since T): <query>, holds a lock on
    schema.relation, ...``. Used to say who stopped a marts build; an analyst's forgotten
    ``begin; select ...`` shows as ``idle in transaction``.
    """
    with connect(db, autocommit=True) as conn:
        rows = conn.execute(
            """select a.pid, a.usename, a.application_name, coalesce(host(a.client_addr), 'local'), a.state,
                      a.xact_start, left(a.query, 120),
                      string_agg(distinct n.nspname || '.' || c.relname, ', ')
               from pg_locks l
               join pg_class c on c.oid = l.relation
               join pg_namespace n on n.oid = c.relnamespace
               join pg_stat_activity a on a.pid = l.pid
               where l.granted and a.datname = current_database() and a.pid <> pg_backend_pid()
                 and n.nspname in ('marts', 'reporting', 'intermediate', 'staging', 'reference')
                 and a.backend_type = 'client backend'
               group by 1, 2, 3, 4, 5, 6, 7 order by a.xact_start"""
        ).fetchall()
    return [
        f"pid {pid} (user {user}, application {app or '-'}, client {client}, {state} since "
        f"{since.isoformat(sep=' ', timespec='seconds') if since else '?'}): {query!r}, holds a lock on {relations}"
        for pid, user, app, client, state, since, query, relations in rows
    ]


#: The household snapshot (dbt_project/snapshots/dim_household.yml): its history only moves forward.
HOUSEHOLD_SNAPSHOT = "marts.dim_household"


def snapshot_ahead_of(conn: psycopg.Connection, logical_date: date) -> date | None:
    """The latest version date (``dbt_updated_at``, a register extract date) of the household
    snapshot when it is on or after ``logical_date``, else ``None`` (also before the first
    snapshot).

    A re-run of a past date then leaves the snapshot alone: taking it would record the
    register of that earlier date as a new, current version (and a version key, household
    and extract date, the snapshot already holds). So does a re-run of the date of its latest
    version: a second register file of that date would give versions with the same key
    (``unique dbt_scd_id`` fails from then on). The snapshot's history moves forward only;
    a late or second register extract for a date it has passed needs it rebuilt in date order.
    """
    if conn.execute("select to_regclass(%s)", (HOUSEHOLD_SNAPSHOT,)).fetchone()[0] is None:
        return None
    (latest,) = conn.execute(f"select max(dbt_updated_at)::date from {HOUSEHOLD_SNAPSHOT}").fetchone()
    return latest if latest is not None and latest >= logical_date else None


def refresh_statistics(logical_date: date, db: Database) -> list[str]:
    """ANALYZE what the day's loads wrote, before dbt reads it; returns the tables analysed.

    The ledger (``audit.load_batches``, ``audit.dq_results``) and, for every source with a
    batch of ``logical_date`` in the ledger (loaded, published, held back or superseded by a
    re-run), its ``raw`` and ``quarantine`` tables. Without fresh statistics PostgreSQL plans
    a freshly filled table as a handful of rows and nests loops over it (issue 10: one income
    query > 60 s at 30,000 households, 1.7 s after ANALYZE). ANALYZE reads a fixed-size sample
    (300 x default_statistics_target rows), so its cost does not grow with the tables.
    """
    contracts = load_contracts()
    with connect(db, autocommit=True) as conn:
        touched = [
            source
            for (source,) in conn.execute(
                "select distinct source from audit.load_batches where logical_date = %s order by 1", (logical_date,)
            ).fetchall()
            if source in contracts
        ]
        tables = ["audit.load_batches", "audit.dq_results"]
        for source in touched:
            tables += [contracts[source].raw_table, contracts[source].quarantine_table]
        for table in tables:
            conn.execute(f"analyze {table}")
    log.info("statistics refreshed for %s: %s", logical_date, ", ".join(tables))
    return tables


def build_marts(
    logical_date: date, db: Database, *, dag_run_id: str | None = None, unless_built_since: datetime | None = None
) -> int | None:
    """Fresh statistics (``refresh_statistics``), then ``dbt build`` of every model, seed, snapshot
    and data test, as of ``logical_date``. Raises ``dbt.DbtFailed`` naming the failing nodes.

    dbt unit tests are left out (``--exclude-resource-type unit_test``): their inputs are static
    fixtures, so a daily run learns nothing from them, and they were a fixed ~110 s of node
    time in every daily build (issue 10, measured 2026-12-02 at 20,000 households; dbt's
    documentation: unit tests check the logic "before you materialize your full model in
    production"). The tests run them: ``test_incremental``, ``test_scenarios`` and
    ``test_reporting_and_access`` call ``dbt build`` without the exclusion.

    Holds the warehouse's advisory lock ``MARTS_LOCK`` for the build, so two builds
    (a backfill's and the daily run's, a push's) never run at the same time, whatever
    runs them (scheduler, Celery workers, ``airflow dags test``): the second waits.
    Each dbt statement waits at most ``HM_MARTS_LOCK_TIMEOUT`` seconds (default 120) for a
    table lock (PostgreSQL ``lock_timeout``): an analyst's transaction left open on a mart
    then stops the build with ``MartsLocked`` naming the blocking session, instead of
    stalling it forever; the task's retry succeeds once that session ends.

    Every build is recorded in ``audit.marts_builds`` (as-of date, start once the lock is held,
    end, status, ``dag_run_id``, the problem of a failed one); returns its ``build_id``. A build
    whose process was killed stays ``running`` until the next build takes the lock and closes it
    (``close_abandoned_builds``); one whose lock connection alone was lost goes on, keeps its
    heartbeat and records its end on a new connection, and the next build waits for it.
    ``unless_built_since`` (a time of the warehouse's clock, taken after the caller's batches
    were published): once the lock is held, when a build as of ``logical_date`` or later that
    started at or after that time has succeeded, it already contains those batches and nothing
    is built (returns ``None``). A burst of department pushes then costs one or two builds,
    not one per push (issue 11).
    """
    from household_monitoring.dbt import DbtFailed, run_dbt

    timeout = int(os.environ.get("HM_MARTS_LOCK_TIMEOUT") or DEFAULT_MARTS_LOCK_TIMEOUT)
    previous = os.environ.get("PGOPTIONS")
    with connect(db, autocommit=True) as lock:
        lock.execute("select pg_advisory_lock(hashtext(%s))", (MARTS_LOCK,))
        close_abandoned_builds(lock)
        if unless_built_since is not None:
            covered = lock.execute(
                """select build_id from audit.marts_builds where status = 'success' and as_of_date >= %s
                   and started_at >= %s order by build_id desc limit 1""",
                (logical_date, unless_built_since),
            ).fetchone()
            if covered:
                log.info("marts as of %s: already built by build %s after %s", logical_date, covered[0],
                         unless_built_since)  # fmt: skip
                return None
        (build_id,) = lock.execute(
            """insert into audit.marts_builds (as_of_date, dag_run_id, heartbeat_at) values (%s, %s, now())
               returning build_id""",
            (logical_date, dag_run_id),
        ).fetchone()
        status, problem = "failed", None
        heartbeat = _Heartbeat(db, build_id)
        try:
            refresh_statistics(logical_date, db)
            os.environ["PGOPTIONS"] = f"{previous or ''} -c lock_timeout={timeout * 1000}".strip()
            as_of = f"{{as_of_date: '{logical_date.isoformat()}'}}"
            args = ["build", "--exclude-resource-type", "unit_test", "--vars", as_of]
            ahead = snapshot_ahead_of(lock, logical_date)
            if ahead:
                log.warning("marts as of %s: snapshot %s not taken: it already holds versions of %s",
                         logical_date, HOUSEHOLD_SNAPSHOT, ahead)  # fmt: skip
                args += ["--exclude", HOUSEHOLD_SNAPSHOT.split(".")[-1]]
            run_dbt(args, db=db, salt=id_salt())
            status = "success"
        except DbtFailed as failed:
            problem = str(failed)[:2000]
            if "lock timeout" not in str(failed):
                raise
            blockers = blocking_sessions(db) or ["(the blocking session has ended since)"]
            locked = MartsLocked(
                f"marts build as of {logical_date} waited {timeout} s (HM_MARTS_LOCK_TIMEOUT) for a table lock held "
                f"by: {'; '.join(blockers)}. It goes on when that session commits or rolls back "
                f"(or: select pg_terminate_backend(<pid>)); the task retries."
            )
            problem = str(locked)[:2000]
            raise locked from failed
        except BaseException as error:
            problem = f"{type(error).__name__}: {error}"[:2000]
            raise
        finally:
            if previous is None:
                os.environ.pop("PGOPTIONS", None)
            else:
                os.environ["PGOPTIONS"] = previous
            heartbeat.stop()
            _record_end(lock, db, build_id, status, problem)
    return build_id


def _record_end(lock: psycopg.Connection, db: Database, build_id: int, status: str, problem: str | None) -> None:
    """Record a build's end on the lock connection, or on a new one when that was lost; if neither
    works the row stays ``running`` and the next build closes it once the heartbeat is stale."""
    update = (  # a build the next one closed as abandoned (its heartbeat stale) keeps that record
        "update audit.marts_builds set status = %s, finished_at = now(), problem = %s "
        "where build_id = %s and status = 'running'"
    )
    try:
        lock.execute(update, (status, problem, build_id))
    except psycopg.Error:
        try:
            with connect(db, autocommit=True) as conn:
                conn.execute(update, (status, problem, build_id))
        except psycopg.Error as error:
            log.warning("marts build %s ended %s but could not be recorded: %s", build_id, status, error)


def publish_report(logical_date: date, db: Database) -> str:
    """dbt docs, then the county daily report of ``logical_date`` (``report``); returns the report's path.

    Run after ``build_marts`` for the same date: raises ``report.ReportError`` when the
    marts describe another date, ``DbtFailed`` when ``dbt docs generate`` fails.
    """
    from household_monitoring.report import generate_dbt_docs, render_report

    generate_dbt_docs(db, id_salt())
    return str(render_report(logical_date, db))


def publish_worklists(logical_date: date, db: Database) -> dict:
    """Each official's work list of ``logical_date``: pages, email and webhook (``worklists.publish``).

    Run after ``build_marts`` for the same date. Returns what was written and sent
    (``worklists.Published`` as a dict); a re-run sends nothing already sent. Raises
    ``WorklistError`` when the marts describe another date and ``NotificationError`` when a
    delivery failed (the others are sent and recorded).
    """
    from dataclasses import asdict

    from household_monitoring.worklists import publish_worklists as publish

    return asdict(publish(logical_date, db))


def audit_day(logical_date: date, db: Database) -> dict:
    """Data Docs of the day's validations, then the day's reconciliation from the ledger.

    Raises ``SourceFailed`` if a batch was held back (after the Data Docs are built, so
    the auditor can read why). The Data Docs are rendered here, once per run, from the
    results the gate stored for every batch of the day (``data_docs.build_data_docs``).

    Returns ``{"batches": n, "rows_read": n, "rows_loaded": n, "rows_quarantined": n,
    "sources_without_file": [source, ...]}``. A source with no file for the day is a
    freshness alert: logged as a warning (and in ``marts.fct_source_daily_scorecard``),
    never a failure of the run, since a department that sends nothing on a holiday, or
    sends monthly, is normal; a source past its contract's freshness is ``is_stale`` there.
    """
    from household_monitoring.data_docs import build_data_docs

    build_data_docs(db, logical_date)
    with connect(db) as conn:
        rows = conn.execute(
            """select source, file_name, status, rows_read, rows_loaded, rows_quarantined, message
               from audit.load_batches
               where logical_date = %s and status <> 'superseded'
               order by source, file_name""",
            (logical_date,),
        ).fetchall()
    held = [
        f"{source}/{name}: {status}: {message}" for source, name, status, *_, message in rows if status != "published"
    ]
    totals = {
        "batches": len(rows),
        "rows_read": sum(r[3] for r in rows),
        "rows_loaded": sum(r[4] for r in rows),
        "rows_quarantined": sum(r[5] for r in rows),
    }
    sent = {source for source, *_ in rows}
    silent = [source for source in load_contracts() if source not in sent]
    totals["sources_without_file"] = silent
    if silent:
        log.warning("freshness alert for %s: no file from %s (logged, not a failure)", logical_date, ", ".join(silent))
    log.info("ledger for %s: %s", logical_date, totals)
    if held:
        raise SourceFailed(f"{len(held)} batch(es) of {logical_date} not published: " + "; ".join(held))
    return totals
