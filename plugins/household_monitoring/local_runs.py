"""DAG runs on this machine without the service: Airflow's ``dags test``, several logical dates in one process.

``hm run``, the scenario tests and the Superset fixture run the daily DAG with Airflow's own
``airflow dags test`` command (a project-local ``AIRFLOW_HOME`` with SQLite metadata). Each
``airflow`` process pays about 13 s before and after its first task: importing Airflow, parsing
the DAG, building the in-process execution API and importing Great Expectations and dbt
(measured 2026-12-03, 3,000 households: three processes 128 s, one process for the same three
dates 92 s). ``run_dags`` therefore runs every date in one child process, one ``dags test``
after another in date order, and reports each date's exit code as it finishes, so a caller can
print progress and read that run's failures from the log.

The child is this module (``python -m household_monitoring.local_runs --status-fd N DATE ...``):
it calls the ``dags test`` command of Airflow's CLI parser for each date, so each run is exactly
what ``airflow dags test <dag> <date>`` does, and writes ``<date> <exit code>`` to the status
pipe after flushing its log output.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import NamedTuple

from household_monitoring import config

DAG_ID = "household_monitoring_daily"
DAG_TIMEZONE = "+08:00"  # Asia/Shanghai, the DAG's timezone


def airflow_environment(db: config.Database) -> dict[str, str]:
    """Environment of a project-local Airflow: home under var/, SQLite metadata, the warehouse connection."""
    home = config.var_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    from household_monitoring.pipeline import id_salt
    from household_monitoring.service.stack import load_secrets

    # One Fernet key per Airflow home: the push DAG's AssetWatcher stores its trigger's kwargs
    # encrypted, and a key that changes between two `dags test` runs fails the parse (InvalidToken).
    secrets = load_secrets(home)
    return {
        "AIRFLOW__CORE__FERNET_KEY": secrets["fernet_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": secrets["api_secret_key"],
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(config.DAGS_DIR),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "HM_ID_SALT": id_salt(),
        "PYTHONWARNINGS": "ignore",
        **db.environment(),
    }


def ensure_airflow_db(env: dict[str, str], log_path: Path) -> None:
    """Create or upgrade the Airflow metadata database of ``env``'s home once per Airflow version.

    Raises ``SystemExit`` naming the log when ``airflow db migrate`` fails.
    """
    import airflow

    stamp = Path(env["AIRFLOW_HOME"]) / ".migrated"
    if stamp.exists() and stamp.read_text() == airflow.__version__:
        return
    started = time.perf_counter()
    exe = Path(sys.executable).with_name("airflow")
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("\n$ airflow db migrate\n")
        log.flush()
        child = subprocess.Popen(
            [str(exe), "db", "migrate"], env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            code = child.wait()
        except KeyboardInterrupt:  # the migration got the Ctrl-C too: let it end, then kill it
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            raise
        if code != 0:
            raise SystemExit(f"airflow db migrate failed; see {log_path}")
    stamp.write_text(airflow.__version__)
    print(f"      Airflow metadata database ready ({time.perf_counter() - started:.0f} s)", flush=True)


class AirflowProcessEnded(RuntimeError):
    """The Airflow process of ``run_dags`` ended before reporting every date; the message says how and where to look."""


def _how_it_ended(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _kill_child(child: subprocess.Popen) -> None:
    """Kill the Airflow child and whatever it started (its own process group) and reap it.

    SIGKILL, as ``kill -9`` would: Airflow's ``dags test`` installs its own SIGTERM handler for
    every task, which lets the task run on, so a gentler signal would leave the DAG writing to
    the warehouse (and alerting) for seconds more. A transaction in flight is rolled back by
    PostgreSQL; a batch left ``loading`` is superseded by the date's next run, and a marts build
    left ``running`` is closed by the next build. Shielded from further Ctrl-C: returns only once
    the child is gone.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)  # the child leads its own group (start_new_session)
    while True:
        try:
            child.wait()
            return
        except KeyboardInterrupt:
            continue


class DagRunEnded(NamedTuple):
    """One date's DAG run in ``run_dags``: its exit code and where its output lies in the log (bytes)."""

    day: date
    code: int  # 0: the DAG run succeeded; 1: it failed (as ``airflow dags test`` exits)
    log_start: int
    log_end: int


def run_dags(days: list[date], env: dict[str, str], log_path: Path) -> Iterator[DagRunEnded]:
    """Run the daily DAG once per date of ``days``, in that order, in one Airflow process.

    Yields a ``DagRunEnded`` as each run ends: its exit code, and the bytes of ``log_path`` that
    hold its output (``failure_reasons(log_path, run.log_start, run.log_end)``; the child
    reports where its output ended, so a slow reader never mixes in the next date's). A failed
    run does not stop the dates after it. Everything the runs print is appended to ``log_path``.

    The Airflow process runs in a session of its own, so a Ctrl-C (or SIGTERM, SIGHUP) reaches
    only this process, which kills it (``_kill_child``) before re-raising: nothing of the DAG
    runs on, and the interrupted task's failure callbacks (the engineer's alert) never run.
    Raises ``AirflowProcessEnded`` naming the log when the Airflow process ends (killed, say)
    before reporting every date.
    """
    if not days:
        return
    child = None
    read_fd, write_fd = os.pipe()
    try:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"\n$ airflow dags test {DAG_ID} {' '.join(d.isoformat() for d in days)}  (one process)\n")
            log.flush()
            start = log.tell()
            child = subprocess.Popen(
                [sys.executable, "-m", "household_monitoring.local_runs", "--status-fd", str(write_fd)]
                + [d.isoformat() for d in days],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        os.close(write_fd)
        write_fd = None
        reported = 0
        with os.fdopen(read_fd, encoding="utf-8") as status:
            read_fd = None
            for line in status:
                day, code, end = line.split()
                yield DagRunEnded(date.fromisoformat(day), int(code), start, int(end))
                start = int(end)
                reported += 1
        child.wait()
    except BaseException:
        if child is not None:
            _kill_child(child)
        raise
    finally:
        for fd in (read_fd, write_fd):
            if fd is not None:
                os.close(fd)
    if reported < len(days):
        raise AirflowProcessEnded(
            f"the Airflow process {_how_it_ended(child.returncode)} after {reported} of {len(days)} DAG runs "
            f"(the rest were not run); see {log_path}"
        )


def run_dag(day: date, env: dict[str, str], log_path: Path) -> int:
    """``airflow dags test`` of the daily DAG for the extracts of ``day``; returns its exit code."""
    ((_, code, _, _),) = run_dags([day], env, log_path)
    return code


#: The alert every failed task logs (service/alerts.py): its task and problem lines.
_ALERT_TASK = re.compile(r"^task:\s+(?P<task>\S+)$")
_ALERT_PROBLEM = re.compile(r"^problem:\s+(?P<problem>.*)$")


def failure_reasons(log_path: Path, offset: int = 0, end: int | None = None) -> list[tuple[str, str]]:
    """The failed tasks of a DAG run and why, from its log (bytes ``offset`` to ``end``, or to its end).

    Every failed task logs an alert (``service.alerts``: delivered or not) with lines
    ``task: <task id>`` and ``problem: <message>``; returns ``[(task id, problem)]`` in log
    order, each once, the problem cut to 300 characters (ending in … when cut). A log without them gives ``[]``.
    """
    with open(log_path, "rb") as log:
        log.seek(offset)
        lines = log.read(-1 if end is None else end - offset).decode("utf-8", errors="replace").splitlines()
    reasons: list[tuple[str, str]] = []
    task_id = None
    for line in lines:
        if match := _ALERT_TASK.match(line):
            task_id = match["task"]
        elif task_id and (match := _ALERT_PROBLEM.match(line)):
            problem = match["problem"]
            reason = (task_id, problem if len(problem) <= 300 else problem[:299] + "…")
            if reason not in reasons:
                reasons.append(reason)
            task_id = None
    return reasons


def main(argv: list[str] | None = None) -> int:
    """The child of ``run_dags``: ``airflow dags test`` for each date, reported on the status pipe."""
    parser = argparse.ArgumentParser(prog="python -m household_monitoring.local_runs")
    parser.add_argument("--status-fd", type=int, required=True)
    parser.add_argument("dates", nargs="+", type=date.fromisoformat)
    args = parser.parse_args(argv)
    os.set_inheritable(args.status_fd, False)  # a process a task starts must not hold the pipe open
    from airflow.cli.cli_parser import get_parser

    airflow_cli = get_parser()
    with os.fdopen(args.status_fd, "w", encoding="utf-8") as status:
        for day in args.dates:
            command = airflow_cli.parse_args(["dags", "test", DAG_ID, f"{day.isoformat()}T00:00:00{DAG_TIMEZONE}"])
            try:
                command.func(command)
                code = 0
            except SystemExit as exit_:  # "DagRun failed": the airflow command's exit
                code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
                if isinstance(exit_.code, str):
                    print(exit_.code, flush=True)
            except Exception:
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            status.write(f"{day.isoformat()} {code} {os.fstat(sys.stdout.fileno()).st_size}\n")
            status.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
