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
        except KeyboardInterrupt:
            _stop_child(child)
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


def _stop_child(child: subprocess.Popen, grace_s: float = 10) -> None:
    """Stop the Airflow child: SIGTERM (it exits at once, see ``main``), SIGKILL after ``grace_s``.

    Shielded from further Ctrl-C: a second one kills the child at once, and this returns only
    once the child is gone, so nothing keeps running against the warehouse after ``hm`` exits.
    """
    if child.poll() is None:
        child.terminate()
    deadline = time.monotonic() + grace_s
    while True:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
            return
        except subprocess.TimeoutExpired:
            child.kill()
            deadline = time.monotonic() + 60
        except KeyboardInterrupt:
            child.kill()


def run_dags(days: list[date], env: dict[str, str], log_path: Path) -> Iterator[tuple[date, int, int]]:
    """Run the daily DAG once per date of ``days``, in that order, in one Airflow process.

    Yields ``(day, exit code, log offset)`` as each run ends: exit code 0 when the DAG run
    succeeded and 1 when it failed (as ``airflow dags test``), and the byte offset of ``log_path``
    where that run's output starts, for ``failure_reasons``. A failed run does not stop the
    dates after it. Everything the runs print is appended to ``log_path``.

    The Airflow process runs in a session of its own, so a Ctrl-C reaches only this one, which
    then stops it (``_stop_child``: it exits at once, without running the interrupted task's
    failure callbacks, so no failure alert goes out) before re-raising ``KeyboardInterrupt``.
    Raises ``AirflowProcessEnded`` naming the log when the Airflow process ends (killed, say)
    before reporting every date.
    """
    if not days:
        return
    read_fd, write_fd = os.pipe()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ airflow dags test {DAG_ID} {' '.join(d.isoformat() for d in days)}  (one process)\n")
        log.flush()
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
    offset = log_path.stat().st_size
    reported = 0
    try:
        with os.fdopen(read_fd, encoding="utf-8") as status:
            for line in status:
                day, code = line.split()
                end = log_path.stat().st_size
                yield date.fromisoformat(day), int(code), offset
                offset = end
                reported += 1
        child.wait()
    except BaseException:
        _stop_child(child)
        raise
    if reported < len(days):
        raise AirflowProcessEnded(
            f"the Airflow process {_how_it_ended(child.returncode)} after {reported} of {len(days)} DAG runs "
            f"(the rest were not run); see {log_path}"
        )


def run_dag(day: date, env: dict[str, str], log_path: Path) -> int:
    """``airflow dags test`` of the daily DAG for the extracts of ``day``; returns its exit code."""
    ((_, code, _),) = run_dags([day], env, log_path)
    return code


#: The alert every failed task logs (service/alerts.py): its task and problem lines.
_ALERT_TASK = re.compile(r"^task:\s+(?P<task>\S+)$")
_ALERT_PROBLEM = re.compile(r"^problem:\s+(?P<problem>.*)$")


def failure_reasons(log_path: Path, offset: int = 0) -> list[tuple[str, str]]:
    """The failed tasks of a DAG run and why, from its log (after byte ``offset``).

    Every failed task logs an alert (``service.alerts``: delivered or not) with lines
    ``task: <task id>`` and ``problem: <message>``; returns ``[(task id, problem)]`` in log
    order, each once, the problem cut to 300 characters (ending in … when cut). A log without them gives ``[]``.
    """
    with open(log_path, encoding="utf-8", errors="replace") as log:
        log.seek(offset)
        lines = log.read().splitlines()
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
    # Stopped by run_dags (Ctrl-C in hm): end now, as a kill would, rather than let Airflow record
    # the interrupted task as failed, alert the engineer and go on with the next tasks.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(128 + signal.SIGTERM))
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
            status.write(f"{day.isoformat()} {code}\n")
            status.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
