"""``hm`` on a warehouse that is not ready: a clear sentence and exit code 2, never a traceback; which database."""

from __future__ import annotations

import secrets

from household_monitoring.cli import _warehouse_or_private, main
from household_monitoring.config import Database
from household_monitoring.database import connect, drop_database


def test_a_configured_database_that_does_not_exist_yet_is_created(server, monkeypatch):
    # `hm load-history` on a new server database, as `hm run` does (it stopped with "database ... does not exist")
    name = f"hm_test_new_{secrets.token_hex(4)}"
    monkeypatch.setenv("HM_DATABASE_URL", server.with_dbname(name).url)
    try:
        db = _warehouse_or_private()
        assert db.dbname == name
        with connect(db, autocommit=True) as conn:
            assert conn.execute("select current_database()").fetchone()[0] == name
    finally:
        drop_database(server, name)


def test_summary_before_the_marts_are_built_says_how_to_build_them(fresh_db, monkeypatch, capsys):
    monkeypatch.setenv("HM_DATABASE_URL", fresh_db.url)
    assert main(["summary"]) == 2
    said = capsys.readouterr()
    assert f"summary: no marts in {fresh_db.host}:{fresh_db.port}/{fresh_db.dbname} yet: build them with" in (
        said.out + said.err
    )


def test_the_warehouse_database_is_never_the_maintenance_database_by_default():
    from household_monitoring.config import configured_database

    assert configured_database({}) is None  # nothing configured: hm run starts the private server
    url = configured_database({"HM_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432"})
    assert (url.host, url.port, url.dbname) == ("127.0.0.1", 5432, "household_monitoring")
    assert configured_database({"PGHOST": "127.0.0.1"}).dbname == "household_monitoring"
    assert configured_database({"HM_DATABASE_URL": "postgresql://u:p%40ss@db:6432/county"}) == Database(
        "db", 6432, "u", "p@ss", "county"
    )


def test_run_on_the_landed_files_needs_a_landing_folder(tmp_path, monkeypatch, capsys):
    # `hm run --landed` re-runs dates on the landing folder as it is; with no dated folder at all, nothing runs
    monkeypatch.setenv("HM_LANDING_DIR", str(tmp_path / "landing"))
    assert main(["run", "--landed", "--start", "2031-01-01", "--end", "2031-01-02"]) == 2
    said = capsys.readouterr()
    assert (
        f"run --landed: no dated folder in {tmp_path / 'landing'} (<source>/<YYYY-MM-DD>/<file>): put the "
        "departments' files there first, or run `hm run` for the sample county"
    ) in said.out + said.err


def test_run_with_the_start_after_the_end_says_so(capsys):
    assert main(["run", "--landed", "--start", "2024-07-25", "--end", "2024-07-23"]) == 2
    said = capsys.readouterr()
    assert "run: --start 2024-07-25 is after --end 2024-07-23: nothing to run" in said.out + said.err
