"""Project paths and the database connection, all from the environment.

The database is reached through the standard libpq variables (``PGHOST``,
``PGPORT``, ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``) or one URL in
``HM_DATABASE_URL``; the URL wins when both are set. From these the package
derives the psycopg connection string, the SQLAlchemy URL (Great Expectations),
the Airflow connection (``AIRFLOW_CONN_HM_WAREHOUSE``) and the dbt profile's
variables (``HM_DB_*``), so nothing is configured twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

#: Repository root (plugins/household_monitoring/config.py -> ../../..).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = PROJECT_ROOT / "expectations" / "contracts"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DAGS_DIR = PROJECT_ROOT / "dags"

#: Airflow connection id of the warehouse.
WAREHOUSE_CONN_ID = "hm_warehouse"


def var_dir() -> Path:
    """The git-ignored output folder: landing zone, Data Docs, Airflow home, private server."""
    return Path(os.environ.get("HM_VAR_DIR", PROJECT_ROOT / "var")).resolve()


def landing_dir() -> Path:
    """Root of the landing zone: ``<landing>/<source>/<YYYY-MM-DD>/<file>``."""
    return Path(os.environ.get("HM_LANDING_DIR", var_dir() / "landing")).resolve()


def data_docs_dir() -> Path:
    """Where Great Expectations writes its context and Data Docs."""
    return Path(os.environ.get("HM_GX_DIR", var_dir() / "gx")).resolve()


def reports_dir() -> Path:
    """Where the county daily reports go: ``<reports>/<YYYY-MM-DD>/index.html``, dbt docs in ``<reports>/dbt-docs``."""
    return Path(os.environ.get("HM_REPORTS_DIR", var_dir() / "reports")).resolve()


@dataclass(frozen=True)
class Database:
    """Connection parameters of the warehouse (PostgreSQL)."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    @property
    def url(self) -> str:
        """``postgresql://user:password@host:port/dbname`` (password omitted when empty)."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(self.dbname, safe='')}"

    @property
    def sqlalchemy_url(self) -> str:
        return self.url.replace("postgresql://", "postgresql+psycopg2://", 1)

    def with_dbname(self, dbname: str) -> Database:
        return Database(self.host, self.port, self.user, self.password, dbname)

    def as_user(self, user: str, password: str = "") -> Database:
        """The same server and database, reached as another role (e.g. ``analyst``)."""
        return Database(self.host, self.port, user, password, self.dbname)

    def environment(self) -> dict[str, str]:
        """Variables handed to Airflow, dbt and Great Expectations child processes."""
        return {
            "HM_DATABASE_URL": self.url,
            "AIRFLOW_CONN_HM_WAREHOUSE": self.url,
            "HM_DB_HOST": self.host,
            "HM_DB_PORT": str(self.port),
            "HM_DB_USER": self.user,
            "HM_DB_PASSWORD": self.password,
            "HM_DB_NAME": self.dbname,
        }


#: The warehouse database when neither the URL nor ``PGDATABASE`` names one (never the
#: server's ``postgres`` maintenance database).
DEFAULT_DBNAME = "household_monitoring"


def configured_database(environ: dict[str, str] | None = None) -> Database | None:
    """The database named by the environment, or ``None`` when nothing names one.

    ``HM_DATABASE_URL`` wins; otherwise any of ``PGHOST``/``PGPORT``/``PGDATABASE``
    names a server, with libpq's defaults for the rest. Either way the database is
    ``DEFAULT_DBNAME`` when none is named. Raises ``ValueError`` for a URL that is not
    ``postgresql://``.
    """
    env = os.environ if environ is None else environ
    url = env.get("HM_DATABASE_URL")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
            raise ValueError(f"HM_DATABASE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}")
        return Database(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            dbname=unquote(parts.path.lstrip("/")) or DEFAULT_DBNAME,
        )
    if not any(env.get(k) for k in ("PGHOST", "PGPORT", "PGDATABASE")):
        return None
    return Database(
        host=env.get("PGHOST") or "127.0.0.1",
        port=int(env.get("PGPORT") or 5432),
        user=env.get("PGUSER") or "postgres",
        password=env.get("PGPASSWORD") or "",
        dbname=env.get("PGDATABASE") or DEFAULT_DBNAME,
    )


def database_from_connection(conn) -> Database:
    """An Airflow ``Connection`` (host, port, login, password, schema) -> ``Database``."""
    return Database(
        host=conn.host or "127.0.0.1",
        port=int(conn.port or 5432),
        user=conn.login or "postgres",
        password=conn.password or "",
        dbname=conn.schema or "postgres",
    )


def warehouse() -> Database:
    """The warehouse the pipeline writes to.

    Raises ``RuntimeError`` when nothing is configured: the CLI starts a private
    server first and exports ``HM_DATABASE_URL``.
    """
    db = configured_database()
    if db is None:
        raise RuntimeError(
            "No database configured: set HM_DATABASE_URL or PGHOST/PGPORT/PGUSER/PGDATABASE, "
            "or run through `hm run`, which starts a private PostgreSQL."
        )
    return db
