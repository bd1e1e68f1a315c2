"""Apache Superset next to the pipeline, without Docker: install, initialise, start, provision, stop.

Superset 6.1 lives in its **own** virtual environment (``var/superset-venv``; its pins conflict with the
pipeline's), installed from ``superset/requirements.lock`` with uv and reinstalled only when that lock
changes (stamp file, as ``dev.py`` does for ``.venv``). An instance is a home folder holding the metadata
database (SQLite), the secret key, the admin password, the pid, port and log of the web server:

- ``var/superset`` for ``hm superset start`` (the analyst's instance, port 8088 when free),
- ``var/superset-test`` for the browser test (its own port, so it never disturbs the first one).

Both outlive a run: ``superset db upgrade``, the admin user and ``superset init`` run once per Superset
version and admin password (stamp ``.initialised``), since they cost ~20-40 s each time here.

Provisioning imports the asset bundle in ``superset/assets`` (Superset's native export format:
``metadata.yaml``, ``databases/``, ``datasets/``, ``charts/``, ``dashboards/``) with Superset's own
``ImportAssetsCommand``, through ``superset/provision.py`` run in Superset's environment; the database
connection's URI is set at that moment from the pipeline's configuration, as the read-only ``analyst``
role (password from ``HM_ANALYST_PASSWORD``, never written to the repository).

Errors: ``SupersetError`` with the failing step and the tail of its log.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
from dataclasses import dataclass
from pathlib import Path

from household_monitoring.config import PROJECT_ROOT, Database

SUPERSET_DIR = PROJECT_ROOT / "superset"
CONFIG_FILE = SUPERSET_DIR / "superset_config.py"
LOCK_FILE = SUPERSET_DIR / "requirements.lock"
ASSETS_DIR = SUPERSET_DIR / "assets"
PROVISION_SCRIPT = SUPERSET_DIR / "provision.py"

#: Title and URL slug of the provisioned dashboard (superset/assets/dashboards/).
DASHBOARD_TITLE = "County risk monitoring"
DASHBOARD_SLUG = "county-risk-monitoring"
#: Name of the warehouse connection in Superset (superset/assets/databases/).
DATABASE_NAME = "Household monitoring warehouse"
#: The read-only role Superset connects as (created by ``database.migrate``).
ANALYST_ROLE = "analyst"
ANALYST_PASSWORD_VARIABLE = "HM_ANALYST_PASSWORD"
ADMIN_USER = "admin"
DEFAULT_PORT = 8088
STARTUP_TIMEOUT_S = 180


class SupersetError(RuntimeError):
    """A Superset step (install, initialise, start, provision) failed; the message names the step and log."""


def venv_dir() -> Path:
    """Superset's virtual environment: ``HM_SUPERSET_VENV`` or ``<repo>/var/superset-venv``."""
    return Path(os.environ.get("HM_SUPERSET_VENV") or PROJECT_ROOT / "var" / "superset-venv").resolve()


def _bin(name: str) -> Path:
    return venv_dir() / ("Scripts" if os.name == "nt" else "bin") / name


def _say(message: str) -> None:
    print(f"[superset] {message}", flush=True)


def _tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def ensure_installed() -> Path:
    """Create Superset's environment and install ``superset/requirements.lock`` unless done for this lock.

    Uses uv from the pipeline's environment (``--compile-bytecode``: ~20 s with a warm uv cache, ~2 min
    cold), else pip. Returns the environment's folder. Raises ``SupersetError`` when the install fails.
    """
    target = venv_dir()
    stamp = target / ".installed-lock-sha256"
    digest = hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and _bin("superset").exists():
        return target
    started = time.perf_counter()
    if not _bin("python").exists():
        _say(f"creating {target}")
        venv.EnvBuilder(with_pip=True).create(target)
    _say("installing Superset 6.1 and its pinned dependencies (superset/requirements.lock, ~800 MB)")
    uv = Path(sys.executable).with_name("uv")
    if uv.exists():
        cmd = [str(uv), "pip", "install", "--python", str(_bin("python")), "--compile-bytecode", "-r", str(LOCK_FILE)]
    else:
        cmd = [str(_bin("python")), "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(LOCK_FILE)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SupersetError(f"installing {LOCK_FILE} into {target} failed:\n{result.stderr[-3000:]}")
    stamp.write_text(digest)
    _say(f"installed in {time.perf_counter() - started:.0f} s")
    return target


def warehouse_uri(db: Database) -> str:
    """SQLAlchemy URI of the warehouse ``db`` as the ``analyst`` role (psycopg2 driver, Superset's default).

    Same host, port and database as the pipeline's configuration; the password is ``HM_ANALYST_PASSWORD``
    when set (none where the server trusts local connections).
    """
    analyst = Database(db.host, db.port, ANALYST_ROLE, os.environ.get(ANALYST_PASSWORD_VARIABLE, ""), db.dbname)
    return analyst.sqlalchemy_url


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class Instance:
    """One Superset instance: its home folder (metadata DB, key, password, pid, port, log).

    ``Instance.default()`` is ``var/superset`` (``hm superset``); tests use ``Instance.named("superset-test")``.
    """

    home: Path

    @classmethod
    def default(cls) -> Instance:
        """``HM_SUPERSET_HOME`` or ``<repo>/var/superset``: the instance ``hm superset`` manages."""
        return cls(Path(os.environ.get("HM_SUPERSET_HOME") or PROJECT_ROOT / "var" / "superset").resolve())

    @classmethod
    def named(cls, name: str) -> Instance:
        """``<repo>/var/<name>``, e.g. ``superset-test`` for the browser test."""
        return cls((PROJECT_ROOT / "var" / name).resolve())

    @property
    def log_path(self) -> Path:
        """``<home>/superset.log``: output of every Superset command and of the web server."""
        return self.home / "superset.log"

    def environment(self) -> dict[str, str]:
        """Variables of every Superset process of this instance (config file, home, quiet logging)."""
        return {
            **os.environ,
            "SUPERSET_CONFIG_PATH": str(CONFIG_FILE),
            "HM_SUPERSET_HOME": str(self.home),
            "FLASK_APP": "superset",
            "PYTHONWARNINGS": "ignore",
            "SUPERSET_LOG_LEVEL": os.environ.get("SUPERSET_LOG_LEVEL", "WARNING"),
        }

    def admin_password(self) -> str:
        """``HM_SUPERSET_ADMIN_PASSWORD``, else a random one generated once into ``<home>/admin_password``."""
        from_env = os.environ.get("HM_SUPERSET_ADMIN_PASSWORD")
        if from_env:
            return from_env
        path = self.home / "admin_password"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(12), encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()

    def _superset(self, args: list[str], step: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"\n$ superset {' '.join(a if 'password' not in p else '***' for p, a in _pairs(args))}\n")
            log.flush()
            code = subprocess.call(
                [str(_bin("superset")), *args], env=self.environment(), stdout=log, stderr=subprocess.STDOUT
            )
        if code != 0:
            raise SupersetError(f"{step} failed (exit {code}); log {self.log_path}:\n{_tail(self.log_path)}")

    def ensure_initialised(self) -> None:
        """``superset db upgrade``, the admin user, ``superset init``: once per Superset version and password."""
        ensure_installed()
        self.home.mkdir(parents=True, exist_ok=True)
        password = self.admin_password()
        version = subprocess.run(
            [str(_bin("python")), "-c", "from importlib.metadata import version; print(version('apache-superset'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        wanted = f"{version} {hashlib.sha256(password.encode()).hexdigest()}"
        stamp = self.home / ".initialised"
        if stamp.exists() and stamp.read_text() == wanted:
            return
        started = time.perf_counter()
        _say(f"initialising the metadata database in {self.home} (db upgrade, admin user, init)")
        self._superset(["db", "upgrade"], "superset db upgrade")
        admin = ["--username", ADMIN_USER, "--password", password]
        names = ["--firstname", "County", "--lastname", "Admin", "--email", "admin@hm.invalid"]
        self._superset(["fab", "create-admin", *admin, *names], "superset fab create-admin")
        # create-admin leaves an existing user as it was: set the password in case it changed.
        self._superset(["fab", "reset-password", *admin], "superset fab reset-password")
        self._superset(["init"], "superset init")
        stamp.write_text(wanted)
        _say(f"metadata database ready ({time.perf_counter() - started:.0f} s)")

    def _pid(self) -> int | None:
        path = self.home / "superset.pid"
        if not path.exists():
            return None
        try:
            pid = int(path.read_text())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, PermissionError):
            return None
        return pid

    def port(self) -> int | None:
        """The port of the running web server, or ``None`` when it is not running."""
        path = self.home / "port"
        if self._pid() is None or not path.exists():
            return None
        return int(path.read_text())

    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server; ``SupersetError`` when it is not running."""
        port = self.port()
        if port is None:
            raise SupersetError(f"Superset ({self.home}) is not running: `hm superset start`")
        return f"http://127.0.0.1:{port}"

    def healthy(self) -> bool:
        """True when this instance's server runs and answers ``/health`` with 200 within 5 s."""
        port = self.port()
        if port is None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self, port: int | None = None) -> str:
        """Start the web server on 127.0.0.1 (detached) and wait for ``/health``; returns its base URL.

        ``port``: ``HM_SUPERSET_PORT``, else 8088; when that port is taken by something else, a free
        port is chosen and said. Already running: returns its URL. Raises ``SupersetError`` when the
        server exits or is not healthy within ``STARTUP_TIMEOUT_S``.
        """
        if self.healthy():
            return self.url()
        self.ensure_initialised()
        wanted = port or int(os.environ.get("HM_SUPERSET_PORT") or DEFAULT_PORT)
        chosen = wanted
        if not _port_is_free(chosen):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                chosen = s.getsockname()[1]
            _say(f"port {wanted} is taken on 127.0.0.1; using {chosen}")
        started = time.perf_counter()
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"\n$ superset run -h 127.0.0.1 -p {chosen} --with-threads\n")
            log.flush()
            process = subprocess.Popen(
                [str(_bin("superset")), "run", "-h", "127.0.0.1", "-p", str(chosen), "--with-threads"],
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        (self.home / "superset.pid").write_text(str(process.pid))
        (self.home / "port").write_text(str(chosen))
        while time.perf_counter() - started < STARTUP_TIMEOUT_S:
            if process.poll() is not None:
                raise SupersetError(
                    f"superset run exited with {process.returncode}; log {self.log_path}:\n{_tail(self.log_path)}"
                )
            if self.healthy():
                _say(f"up on http://127.0.0.1:{chosen} in {time.perf_counter() - started:.0f} s")
                return self.url()
            time.sleep(0.5)
        self.stop()
        raise SupersetError(f"Superset not healthy after {STARTUP_TIMEOUT_S} s; log {self.log_path}")

    def stop(self) -> bool:
        """Stop the web server started by ``start`` (its process group); ``False`` when none was running."""
        pid = self._pid()
        if pid is None:
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        (self.home / "superset.pid").unlink(missing_ok=True)
        return True

    def provision(self, db: Database) -> str:
        """Import ``superset/assets`` (connection to ``db`` as analyst, datasets, charts, the dashboard).

        Overwrites the objects of earlier imports (same UUIDs), so it is safe to repeat and follows a
        warehouse that moved. Returns the dashboard's path (``/superset/dashboard/<slug>/``). Raises
        ``SupersetError`` when the import fails.
        """
        self.ensure_initialised()
        env = {**self.environment(), "HM_SUPERSET_WAREHOUSE_URI": warehouse_uri(db), "HM_SUPERSET_ADMIN": ADMIN_USER}
        result = subprocess.run(
            [str(_bin("python")), str(PROVISION_SCRIPT)], env=env, capture_output=True, text=True, cwd=SUPERSET_DIR
        )
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"\n$ python provision.py\n{result.stdout}{result.stderr}")
        if result.returncode != 0:
            raise SupersetError(f"provisioning failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
        return f"/superset/dashboard/{DASHBOARD_SLUG}/"


def _pairs(args: list[str]) -> list[tuple[str, str]]:
    """(previous argument, argument) pairs, to mask the value after ``--password`` in the log."""
    return list(zip(["", *args[:-1]], args, strict=True))
