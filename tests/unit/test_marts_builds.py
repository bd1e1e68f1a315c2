"""``pipeline.build_marts`` records every build in ``audit.marts_builds`` and, for a push, skips a build
that a later-started successful one already covers (issue 11: a burst of pushes costs one or two builds).

dbt itself is replaced by a recorder here: what is checked is the bookkeeping around it, under the
warehouse's marts lock (the real builds run in tests/scenarios and tests/service).
"""

from __future__ import annotations

from datetime import date

import pytest

from household_monitoring import dbt as dbt_module
from household_monitoring.database import connect
from household_monitoring.pipeline import ABANDONED, build_marts

DAY = date(2024, 7, 17)


@pytest.fixture
def dbt_calls(monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(dbt_module, "run_dbt", lambda args, **kwargs: calls.append(args))
    return calls


def _builds(db) -> list[tuple]:
    with connect(db) as conn:
        return conn.execute(
            """select build_id, as_of_date, status, dag_run_id, problem, finished_at is not null
               from audit.marts_builds order by build_id"""
        ).fetchall()


def _now(db):
    with connect(db) as conn:
        return conn.execute("select now()").fetchone()[0]


def test_a_build_is_recorded_with_its_run_and_end(fresh_db, dbt_calls):
    build_id = build_marts(DAY, fresh_db, dag_run_id="scheduled__2024-07-17T16:00:00+00:00")
    assert dbt_calls == [["build", "--exclude-resource-type", "unit_test", "--vars", "{as_of_date: '2024-07-17'}"]]
    assert _builds(fresh_db) == [(build_id, DAY, "success", "scheduled__2024-07-17T16:00:00+00:00", None, True)]


def test_a_push_build_is_skipped_when_a_build_started_after_its_files_succeeded(fresh_db, dbt_calls):
    published_by = _now(fresh_db)
    first = build_marts(DAY, fresh_db, dag_run_id="push-1", unless_built_since=published_by)
    # The second push's files were published before the first build started: that build holds them.
    assert build_marts(DAY, fresh_db, dag_run_id="push-2", unless_built_since=published_by) is None
    assert len(dbt_calls) == 1
    assert [(b[0], b[2], b[3]) for b in _builds(fresh_db)] == [(first, "success", "push-1")]


def test_a_build_that_started_before_the_files_or_for_an_earlier_date_does_not_cover_them(fresh_db, dbt_calls):
    build_marts(date(2024, 7, 16), fresh_db, dag_run_id="earlier-date")
    build_marts(DAY, fresh_db, dag_run_id="before-the-files")
    published_by = _now(fresh_db)
    build_marts(DAY, fresh_db, dag_run_id="push", unless_built_since=published_by)
    assert [b[3] for b in _builds(fresh_db)] == ["earlier-date", "before-the-files", "push"]
    assert len(dbt_calls) == 3


def test_a_failed_build_is_recorded_with_its_problem_and_covers_nothing(fresh_db, monkeypatch):
    def fail(args, **kwargs):
        raise dbt_module.DbtFailed("model.household_monitoring.fct_risk_warnings: relation does not exist")

    monkeypatch.setattr(dbt_module, "run_dbt", fail)
    published_by = _now(fresh_db)
    with pytest.raises(dbt_module.DbtFailed):
        build_marts(DAY, fresh_db, dag_run_id="push-1", unless_built_since=published_by)
    ((_, as_of, status, run_id, problem, finished),) = _builds(fresh_db)
    assert (as_of, status, run_id, finished) == (DAY, "failed", "push-1", True)
    assert problem == "model.household_monitoring.fct_risk_warnings: relation does not exist"
    calls = []
    monkeypatch.setattr(dbt_module, "run_dbt", lambda args, **kwargs: calls.append(args))
    assert build_marts(DAY, fresh_db, dag_run_id="push-2", unless_built_since=published_by) is not None
    assert len(calls) == 1


def test_a_build_left_running_by_a_killed_process_is_closed_by_the_next(fresh_db, dbt_calls):
    with connect(fresh_db) as conn:  # a build whose process was killed: its row stays 'running'
        (killed,) = conn.execute(
            "insert into audit.marts_builds (as_of_date, dag_run_id) values (%s, 'killed') returning build_id",
            (DAY,),
        ).fetchone()
        conn.commit()
    build_id = build_marts(DAY, fresh_db, dag_run_id="next")
    builds = {b[0]: b for b in _builds(fresh_db)}
    assert builds[killed][2:] == (
        "failed",
        "killed",
        ABANDONED,
        True,
    )
    assert builds[build_id][2] == "success"


def test_a_build_that_lost_only_its_lock_connection_is_waited_for(fresh_db, monkeypatch):
    """Its dbt run goes on without the lock, and its heartbeat too: the next build waits for its end.
    A build whose heartbeat stops (its process killed mid-build) is closed once the heartbeat is stale."""
    import threading
    import time

    from household_monitoring.pipeline import close_abandoned_builds

    def running(run_id: str) -> int:
        with connect(fresh_db) as conn:
            (build_id,) = conn.execute(
                """insert into audit.marts_builds (as_of_date, dag_run_id, heartbeat_at) values (%s, %s, now())
                   returning build_id""",
                (DAY, run_id),
            ).fetchone()
            conn.commit()
        return build_id

    def live_for(build_id: int, seconds: float, then: str | None) -> threading.Thread:
        """The build's process: beats for ``seconds``, then records its end (or, killed, nothing)."""

        def work() -> None:
            with connect(fresh_db, autocommit=True) as conn:
                until = time.monotonic() + seconds
                while time.monotonic() < until:
                    conn.execute("update audit.marts_builds set heartbeat_at = now() where build_id = %s", (build_id,))
                    time.sleep(0.1)
                if then:
                    conn.execute(
                        "update audit.marts_builds set status = %s, finished_at = now() where build_id = %s",
                        (then, build_id),
                    )

        thread = threading.Thread(target=work)
        thread.start()
        return thread

    lost_lock = running("lost-lock")
    worker = live_for(lost_lock, 1.5, then="success")
    with connect(fresh_db, autocommit=True) as lock:
        started = time.monotonic()
        assert close_abandoned_builds(lock, poll_seconds=0.1, stale_seconds=0.5) == []
        assert time.monotonic() - started >= 1.4  # it waited for the build to end
    worker.join()
    killed = running("killed-mid-build")
    worker = live_for(killed, 1.0, then=None)
    with connect(fresh_db, autocommit=True) as lock:
        started = time.monotonic()
        assert close_abandoned_builds(lock, poll_seconds=0.1, stale_seconds=0.5) == [killed]
        assert 1.0 <= time.monotonic() - started < 10  # its heartbeat went stale
    worker.join()
    hung = running("alive-but-hung")
    worker = live_for(hung, 3.0, then=None)  # beats on past the wait's cap
    monkeypatch.setenv("HM_ABANDONED_BUILD_WAIT", "1")
    with connect(fresh_db, autocommit=True) as lock:
        started = time.monotonic()
        assert close_abandoned_builds(lock, poll_seconds=0.1, stale_seconds=0.5) == [hung]
        assert 1.0 <= time.monotonic() - started < 2.5
    worker.join()
    builds = {b[0]: b[2:] for b in _builds(fresh_db)}
    assert builds[lost_lock][:2] == ("success", "lost-lock")
    assert builds[killed] == ("failed", "killed-mid-build", ABANDONED, True)
    assert builds[hung] == ("failed", "alive-but-hung", ABANDONED, True)


def test_a_build_that_lost_its_lock_connection_records_its_end_on_another(fresh_db, monkeypatch):
    """The lock session is terminated mid-build (pg_terminate_backend): the build still records its end."""
    from household_monitoring import pipeline

    def build_while_the_lock_session_is_killed(args, **kwargs):
        with connect(fresh_db, autocommit=True) as conn:
            conn.execute(
                """select pg_terminate_backend(pid) from pg_locks
                   where locktype = 'advisory' and database = (select oid from pg_database
                                                              where datname = current_database())"""
            )

    monkeypatch.setattr(dbt_module, "run_dbt", build_while_the_lock_session_is_killed)
    build_id = pipeline.build_marts(DAY, fresh_db, dag_run_id="lock-lost")
    ((_, _, status, run_id, problem, finished),) = [b for b in _builds(fresh_db) if b[0] == build_id]
    assert (status, run_id, problem, finished) == ("success", "lock-lost", None, True)

    # A build the next one closed as abandoned meanwhile keeps that record when it ends late.
    def closed_meanwhile(args, **kwargs):
        build_while_the_lock_session_is_killed(args)
        with connect(fresh_db, autocommit=True) as conn:
            conn.execute(
                "update audit.marts_builds set status = 'failed', problem = 'abandoned' where status = 'running'"
            )

    monkeypatch.setattr(dbt_module, "run_dbt", closed_meanwhile)
    late = pipeline.build_marts(DAY, fresh_db, dag_run_id="late")
    assert [b[2:5] for b in _builds(fresh_db) if b[0] == late] == [("failed", "late", "abandoned")]
