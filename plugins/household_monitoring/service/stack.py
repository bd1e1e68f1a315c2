"""The production-like Airflow stack on one machine, without Docker, on loopback only.

``Stack.start`` runs ``airflow db migrate`` on the metadata database, then starts
api-server, scheduler, dag-processor, triggerer and, with the CeleryExecutor, N
``airflow celery worker`` processes, each in its own process group, logging to
``<home>/logs/<process>.log``; ``Stack.status`` reports them and the api-server's
health; ``Stack.stop`` stops exactly the processes it started (their ids are in
``<home>/stack.json``).

Where each setting comes from (all from the environment, nothing from the repository):

==============================  ===========================================================
``HM_AIRFLOW_HOME``             the stack's AIRFLOW_HOME (default ``var/airflow-service``)
``HM_AIRFLOW_DATABASE_URL``     metadata database (PostgreSQL); default: the warehouse's
                                server, database ``<warehouse database>_airflow``
``HM_CELERY_BROKER_URL``        Celery broker (default ``redis://127.0.0.1:6379/0``); when
                                it is unreachable the stack says so and runs the LocalExecutor
``HM_AIRFLOW_PORT``             api-server port on 127.0.0.1 (default 8080, else a free one)
``HM_CELERY_VISIBILITY_TIMEOUT`` seconds before Redis redelivers an unacknowledged task
                                (default 21600: above the longest task, a county's dbt build)
``HM_CELERY_CONCURRENCY``       task slots per Celery worker (default 2: two cores here)
==============================  ===========================================================

The Celery result backend is the metadata PostgreSQL (``db+postgresql://``). Secrets
(the JWT secret, the Fernet key, the api secret key) are generated once into
``<home>/secrets.json`` (mode 0600) and given to every process: processes with
different JWT secrets fail tasks with ``Invalid auth token`` (STACK_NOTES, measured).
Every process also gets the execution API URL (without it a worker calls
localhost:8080). The workers and the triggerer run without their log servers (which
listen on every interface): on one machine the api-server reads the log files directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from household_monitoring import config

#: Airflow's timezone for the stack: plain dates given to ``airflow backfill create`` are business days.
TIMEZONE = "Asia/Shanghai"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PORT = 8080
#: Seconds Redis waits before redelivering an unacknowledged task: above the longest task.
DEFAULT_VISIBILITY_TIMEOUT = 6 * 3600
ADMIN_USER = "admin"


class StackError(RuntimeError):
    """The stack cannot start or is not healthy; the message names the process and its log."""


def default_home() -> Path:
    """``HM_AIRFLOW_HOME``, else ``var/airflow-service``."""
    return Path(os.environ.get("HM_AIRFLOW_HOME", config.var_dir() / "airflow-service")).resolve()


def worker_hostname() -> str:
    """Airflow's ``hostname_callable`` for the stack: ``HM_WORKER_NAME`` (e.g. ``worker-2@host``), else the FQDN.

    Two Celery workers on one machine then show apart in each task instance's ``hostname``.
    """
    name = os.environ.get("HM_WORKER_NAME")
    return f"{name}@{socket.getfqdn()}" if name else socket.getfqdn()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at this moment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def broker_reachable(url: str) -> bool:
    """True when the broker's host and port accept a TCP connection (Redis, RabbitMQ)."""
    parts = urlsplit(url)
    default = {"redis": 6379, "rediss": 6380, "amqp": 5672, "pyamqp": 5672}.get(parts.scheme, 6379)
    return port_open(parts.hostname or "127.0.0.1", parts.port or default)


def load_secrets(home: Path) -> dict[str, str]:
    """The stack's secrets, generated once into ``<home>/secrets.json`` (mode 0600) and reused.

    Keys: ``jwt_secret``, ``fernet_key`` (a Fernet key), ``api_secret_key`` and ``stack_id``
    (names the stack's Celery queue and Redis key prefix, so two stacks never share tasks).
    """
    path = home / "secrets.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    from cryptography.fernet import Fernet

    home.mkdir(parents=True, exist_ok=True)
    values = {
        "jwt_secret": secrets.token_urlsafe(32),
        "fernet_key": Fernet.generate_key().decode("ascii"),
        "api_secret_key": secrets.token_urlsafe(32),
        "stack_id": secrets.token_hex(4),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(values, out)
    return values


def choose_executor(workers: int, executor: str, broker: str, say=print) -> str:
    """``CeleryExecutor`` or ``LocalExecutor`` for ``hm stack start``.

    ``executor``: ``auto`` (Celery when ``workers`` > 0 and ``broker`` answers; otherwise Local,
    and ``say`` tells why), ``celery`` or ``local``. Raises ``StackError`` when Celery is asked
    for and the broker does not answer or there is no worker.
    """
    chosen = executor.lower()
    if chosen not in ("auto", "celery", "local"):
        raise StackError(f"unknown executor {executor!r} (auto, celery, local)")
    if chosen == "auto":
        if workers <= 0:
            chosen = "local"
        elif broker_reachable(broker):
            chosen = "celery"
        else:
            say(f"no Celery broker reachable at {broker} (HM_CELERY_BROKER_URL): running the LocalExecutor")
            chosen = "local"
    if chosen == "celery" and not broker_reachable(broker):
        raise StackError(f"the Celery broker {broker} (HM_CELERY_BROKER_URL) does not answer")
    if chosen == "celery" and workers <= 0:
        raise StackError("the CeleryExecutor needs at least one worker (--workers N)")
    return "CeleryExecutor" if chosen == "celery" else "LocalExecutor"


@dataclass
class StackState:
    """What ``start`` wrote to ``<home>/stack.json``: settings and the process ids."""

    executor: str
    port: int
    workers: int
    metadata_url: str
    broker_url: str | None
    queue: str
    paused_at_creation: bool = False
    processes: dict[str, int] = field(default_factory=dict)
    #: The warehouse the stack was started on: later commands (``hm stack backfill``) use it, also when
    #: it is the private PostgreSQL that ``hm stack start`` started and no variable names it.
    warehouse_url: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _sqlalchemy(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


class Stack:
    """The stack whose AIRFLOW_HOME is ``home`` (default ``default_home()``)."""

    def __init__(self, home: Path | None = None):
        self.home = (home or default_home()).resolve()
        self.logs = self.home / "logs"
        self.state_path = self.home / "stack.json"

    # ----------------------------------------------------------------- configuration
    def state(self) -> StackState | None:
        """The state of the last ``start``, or ``None``."""
        if not self.state_path.exists():
            return None
        return StackState(**json.loads(self.state_path.read_text(encoding="utf-8")))

    def _save(self, state: StackState) -> None:
        fd = os.open(self.state_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(state), out, indent=1)

    def environment(self, state: StackState, warehouse: config.Database) -> dict[str, str]:
        """The variables every process of the stack gets (one set: same secrets, same URLs)."""
        from household_monitoring.pipeline import id_salt

        values = load_secrets(self.home)
        env = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(config.DAGS_DIR),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": TIMEZONE,
            "AIRFLOW__CORE__EXECUTOR": state.executor,
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(state.paused_at_creation),
            "AIRFLOW__CORE__FERNET_KEY": values["fernet_key"],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{state.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "admin_passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _sqlalchemy(state.metadata_url),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(state.port),
            "AIRFLOW__API__BASE_URL": state.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": values["api_secret_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": values["jwt_secret"],
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # A loaded 2-core machine answers the execution API slowly at start: 5 s (default) timed out here.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": state.queue,
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "household_monitoring.service.stack.worker_hostname",
            "HM_ID_SALT": id_salt(),
            "HM_VAR_DIR": str(config.var_dir()),
            "PYTHONWARNINGS": "ignore",
            **warehouse.environment(),
        }
        if state.executor == "CeleryExecutor":
            env.update(
                {
                    "AIRFLOW__CELERY__BROKER_URL": state.broker_url or DEFAULT_BROKER_URL,
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + _sqlalchemy(state.metadata_url),
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": os.environ.get("HM_CELERY_CONCURRENCY", "2"),
                    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": os.environ.get(
                        "HM_CELERY_VISIBILITY_TIMEOUT", str(DEFAULT_VISIBILITY_TIMEOUT)
                    ),
                    # Keys of this stack only, on a Redis other programs may use too.
                    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"{state.queue}:",
                }
            )
        return env

    def command_environment(self) -> dict[str, str]:
        """Environment for an ``airflow`` command against the running stack (e.g. ``backfill create``).

        The warehouse is the one the stack was started on (``StackState.warehouse_url``)."""
        state = self.state()
        if state is None:
            raise StackError(f"no stack started in {self.home}: run `hm stack start` first")
        if state.warehouse_url:
            warehouse = config.configured_database({"HM_DATABASE_URL": state.warehouse_url})
        else:
            warehouse = config.warehouse()
        return {**os.environ, **self.environment(state, warehouse)}

    # ----------------------------------------------------------------- processes
    def _airflow(self) -> str:
        return str(Path(sys.executable).with_name("airflow"))

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> int:
        self.logs.mkdir(parents=True, exist_ok=True)
        env = {**env, "HM_WORKER_NAME": name}
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(
            [self._airflow(), *args],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.home,
            start_new_session=True,  # its own process group: stop() ends it and its children
        )
        log.close()
        return process.pid

    def _migrate(self, env: dict[str, str]) -> None:
        log = self.logs / "db-migrate.log"
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            code = subprocess.call(
                [self._airflow(), "db", "migrate"], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
            )
        if code != 0:
            raise StackError(f"airflow db migrate failed (exit {code}); see {log}")

    def start(
        self,
        workers: int = 1,
        executor: str = "auto",
        port: int | None = None,
        warehouse: config.Database | None = None,
        metadata: config.Database | None = None,
        say=print,
        wait: float = 180.0,
        paused: bool = False,
    ) -> StackState:
        """Start the stack and wait until the api-server reports every component healthy.

        ``executor``: ``auto`` (Celery when ``workers`` > 0 and the broker answers, else
        Local, saying why), ``celery`` (fails when the broker does not answer) or ``local``.
        New DAGs start unpaused (the nightly schedule runs) unless ``paused``.
        ``warehouse`` defaults to ``config.warehouse()``; ``metadata`` to
        ``HM_AIRFLOW_DATABASE_URL`` or ``<warehouse>_airflow`` on the same server (created
        when missing). Returns the saved ``StackState``. Raises ``StackError`` when a stack
        already runs in this home, the broker is required but unreachable, the migration
        fails, or a process dies or the stack is not healthy within ``wait`` seconds.
        """
        from household_monitoring.database import create_database

        running = self.running()
        if running:
            raise StackError(f"a stack already runs in {self.home} ({', '.join(running)}): `hm stack stop` first")
        warehouse = warehouse or config.warehouse()
        if metadata is None:
            url = os.environ.get("HM_AIRFLOW_DATABASE_URL")
            if url:
                metadata = config.configured_database({"HM_DATABASE_URL": url})
            else:
                metadata = warehouse.with_dbname(f"{warehouse.dbname}_airflow")
        metadata = create_database(metadata, metadata.dbname)
        broker = os.environ.get("HM_CELERY_BROKER_URL") or DEFAULT_BROKER_URL
        chosen = choose_executor(workers, executor, broker, say)
        wanted = port or int(os.environ.get("HM_AIRFLOW_PORT") or DEFAULT_PORT)
        if port_open("127.0.0.1", wanted):
            if port:
                raise StackError(f"port {wanted} is in use on 127.0.0.1")
            free = free_port()
            say(f"port {wanted} is in use on 127.0.0.1: the api-server listens on {free}")
            wanted = free
        secrets_ = load_secrets(self.home)
        state = StackState(
            executor=chosen,
            port=wanted,
            workers=workers if chosen == "CeleryExecutor" else 0,
            metadata_url=metadata.url,
            broker_url=broker if chosen == "CeleryExecutor" else None,
            queue=f"hm-{secrets_['stack_id']}",
            paused_at_creation=paused,
            warehouse_url=warehouse.url,
        )
        env = self.environment(state, warehouse)
        self._migrate(env)
        commands = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(state.port), "--workers", "1"],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
        }
        for number in range(1, state.workers + 1):
            commands[f"worker-{number}"] = [
                "celery",
                "worker",
                "--celery-hostname",
                f"worker{number}-{secrets_['stack_id']}@%h",
                "--queues",
                state.queue,
                "--skip-serve-logs",
                "--without-gossip",
                "--without-mingle",
            ]
        try:
            for name, args in commands.items():
                state.processes[name] = self._spawn(name, args, env)
                self._save(state)
            self.wait_healthy(state, timeout=wait)
        except BaseException:
            self.stop()
            raise
        return state

    def _alive(self, pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:  # a zombie child of this process counts as dead
            waited, _ = os.waitpid(pid, os.WNOHANG)
            return waited == 0
        except ChildProcessError:
            return True

    def running(self) -> list[str]:
        """Names of the stack's processes that are alive."""
        state = self.state()
        if state is None:
            return []
        return [name for name, pid in state.processes.items() if self._alive(pid)]

    def health(self, state: StackState | None = None) -> dict | None:
        """The api-server's ``/api/v2/monitor/health`` answer, or ``None`` when it does not answer."""
        state = state or self.state()
        if state is None:
            return None
        try:
            with urllib.request.urlopen(f"{state.url}/api/v2/monitor/health", timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    @staticmethod
    def _healthy(health: dict | None) -> bool:
        if not health:
            return False
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    def wait_healthy(self, state: StackState, timeout: float = 180.0) -> None:
        """Wait until every component reports healthy; raise ``StackError`` naming a dead process's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [name for name, pid in state.processes.items() if not self._alive(pid)]
            if dead:
                raise StackError(f"{dead[0]} exited at start; see {self.logs / (dead[0] + '.log')}")
            if self._healthy(self.health(state)):
                return
            time.sleep(2)
        raise StackError(f"the stack is not healthy after {timeout:.0f} s: {self.health(state)}; logs in {self.logs}")

    def status(self) -> dict:
        """``{"url", "executor", "workers", "processes": {name: "running (pid N)" | "stopped"}, "health"}``."""
        state = self.state()
        if state is None:
            return {"processes": {}, "health": None}
        return {
            "url": state.url,
            "executor": state.executor,
            "workers": state.workers,
            "processes": {
                name: f"running (pid {pid})" if self._alive(pid) else "stopped" for name, pid in state.processes.items()
            },
            "health": self.health(state),
        }

    def kill(self, name: str, sig: int = signal.SIGKILL) -> list[int]:
        """Send ``sig`` to one of the stack's processes and every descendant (fault tests: kill -9 a worker).

        Descendants are found before signalling (a task process may have left the worker's process
        group). Returns the process ids signalled.
        """
        import psutil

        state = self.state()
        if state is None or name not in state.processes:
            raise StackError(f"no process {name!r} in the stack of {self.home}")
        try:
            root = psutil.Process(state.processes[name])
            victims = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for process in victims:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(sig)
        return [process.pid for process in victims]

    def stop(self, timeout: float = 30.0) -> list[str]:
        """Stop the stack's processes (SIGTERM, then SIGKILL after ``timeout`` s); return the names stopped."""
        state = self.state()
        if state is None:
            return []
        stopped = []
        for name, pid in reversed(list(state.processes.items())):
            if self._alive(pid):
                try:
                    os.killpg(pid, signal.SIGTERM)
                    stopped.append(name)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for _name, pid in state.processes.items():
            while self._alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if self._alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        state.processes = {}
        self._save(state)
        return stopped

    def admin_password(self) -> str | None:
        """The generated password of ``admin`` (SimpleAuthManager writes it at the api-server's start)."""
        path = self.home / "admin_passwords.json"
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8")).get(ADMIN_USER)

    def airflow(self, args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
        """Run an ``airflow`` command against the running stack; its output is captured."""
        return subprocess.run(
            [self._airflow(), *args],
            env=self.command_environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )


def backfill_dates(start, end) -> tuple[str, str]:
    """``--from-date``/``--to-date`` for business days ``start`` .. ``end`` (midnight Asia/Shanghai).

    Plain dates are read in Airflow's default timezone (UTC unless configured): measured,
    2024-07-16 .. 2024-07-17 then created one run only. Explicit +08:00 avoids that.
    """
    return f"{start.isoformat()}T00:00:00+08:00", f"{end.isoformat()}T00:00:00+08:00"
