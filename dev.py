#!/usr/bin/env python3
"""The project's entry point on a machine that has only Python 3.11.

    python3 dev.py run    install, get a database, generate the sample county, run the DAGs, print a summary
    python3 dev.py test   install, then lint (ruff, sqlfluff) and run the tests (pytest)
    python3 dev.py superset [start|stop|provision|status]
                          Apache Superset (own environment var/superset-venv) on 127.0.0.1 with the
                          county dashboard, connected to the warehouse as the analyst role

Both create ``.venv`` on first use and install the pinned set in
``requirements.lock`` with uv (itself installed from PyPI into the venv); later
calls reinstall only when the lock file changed. Extra arguments go to
``hm run`` or to pytest. Standard library only: this runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".installed-lock-sha256"
UV_VERSION = "0.13.9"


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(cmd: list[str], **kwargs) -> None:
    result = subprocess.run(cmd, **kwargs)
    if result.returncode != 0:
        raise SystemExit(result.returncode)


def ensure_environment() -> None:
    """Create .venv and install requirements.lock and the project, unless already done for this lock."""
    if sys.version_info[:2] != (3, 11):
        say(f"warning: the lock file is resolved for Python 3.11; this is {sys.version.split()[0]}")
    digest = hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    started = time.perf_counter()
    if not (BIN / "python").exists():
        say("creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    say("installing uv, then the pinned dependencies (requirements.lock, ~1.3 GB; about a minute)")
    run([str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"uv=={UV_VERSION}"])
    uv = [str(BIN / "uv"), "pip", "install", "--python", str(BIN / "python")]
    run([*uv, "--compile-bytecode", "-r", str(LOCK)])
    run([*uv, "--no-deps", "-e", str(ROOT)])
    STAMP.write_text(digest)
    say(f"environment ready in {time.perf_counter() - started:.0f} s")


def call(cmd: list[str], **kwargs) -> int:
    """Run ``cmd`` and return its exit code. On Ctrl-C (the terminal sends it to the child too) wait
    for the child to stop what it started (``hm run`` stops its private PostgreSQL), then return 130
    without a traceback."""
    child = subprocess.Popen(cmd, **kwargs)
    try:
        return child.wait()
    except KeyboardInterrupt:
        try:
            child.wait(timeout=60)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            child.kill()
        return 130


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONWARNINGS": "ignore"}


def cmd_run(args: list[str]) -> int:
    return call([str(BIN / "hm"), "run", *args], env=env())


def test_workers(args: list[str]) -> list[str]:
    """pytest-xdist options for the whole suite: ``-n N --dist loadfile`` (N = ``HM_TEST_WORKERS``, default
    the machine's cores, at most 2), so each test module runs whole in one worker (its module fixtures,
    e.g. one county built for many tests, are made once) and two modules run at once. The e2e modules
    are mostly single-threaded Python (Airflow, dbt's parse) waiting on PostgreSQL: on this 2-core
    machine two at a time finish the suite sooner (README, *Tests*). Nothing is added when the
    arguments choose themselves (``-n``, ``-p no:xdist``) or when N is 1."""
    if any(a == "-n" or a.startswith(("-n=", "--numprocesses", "-pno:xdist")) or a == "no:xdist" for a in args):
        return []
    workers = int(os.environ.get("HM_TEST_WORKERS") or min(2, os.cpu_count() or 1))
    return ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []


def cmd_test(args: list[str]) -> int:
    say("lint: ruff")
    run([str(BIN / "ruff"), "check", "."], cwd=ROOT, env=env())
    run([str(BIN / "ruff"), "format", "--check", "."], cwd=ROOT, env=env())
    say("lint: sqlfluff (dbt models)")
    run([str(BIN / "sqlfluff"), "lint", "dbt_project/models", "--disable-progress-bar"], cwd=ROOT, env=env())
    say("tests: pytest")
    workers = test_workers(args)
    if workers:
        say(f"tests: {workers[1]} pytest-xdist workers, one module per worker at a time (HM_TEST_WORKERS=1: one)")
    return call([str(BIN / "python"), "-m", "pytest", *workers, *args], cwd=ROOT, env=env())


def cmd_superset(args: list[str]) -> int:
    return call([str(BIN / "hm"), "superset", *args], env=env())


def main() -> int:
    commands = {"run": cmd_run, "test": cmd_test, "superset": cmd_superset}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    try:
        ensure_environment()
        return commands[sys.argv[1]](sys.argv[2:])
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
