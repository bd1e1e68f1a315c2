"""A department's file published while the marts build: read at the next run, never twice (issue 10).

Each incremental staging model copies the batches in its scope from the ledger once, in its first
pre-hook (``batch_scope_prepare``, dbt_project/macros/incremental_staging.sql), and its query and
its other hooks read that copy. Here a second household-register extract is published at the
moment ``stg_household_register__members`` has taken its copy: an event trigger publishes the batch
when that model creates its scope table, as a push's gate would from another session. Read from
the ledger again in the model, the batch would have been inserted while the truncate, which had not
seen it, left the first extract in place: every member twice. With the copy the build ignores it,
and the next run derives the four register tables again, as a full refresh gives them.
"""

from __future__ import annotations

import contextlib
import csv
from datetime import date

import pytest
from support import REGISTER_TABLES, migrated_database, relation_rows

from household_monitoring.database import connect
from household_monitoring.dbt import run_dbt
from household_monitoring.pipeline import SourceFailed, build_marts, id_salt, ingest_source
from household_monitoring.sample_data.generator import generate_county

pytestmark = pytest.mark.e2e
DAY, NEXT = date(2024, 7, 15), date(2024, 7, 16)


def _register_rows(db) -> dict[str, list[str]]:
    with connect(db, autocommit=True) as conn:
        return {table: relation_rows(conn, table, ("batch", "_at")) for table in REGISTER_TABLES}


def _count(db, sql: str) -> int:
    with connect(db, autocommit=True) as conn:
        return conn.execute(sql).fetchone()[0]


@pytest.fixture
def county(server, tmp_path):
    landing = tmp_path / "landing"
    generate_county(landing, households=60, start=DAY, end=DAY)
    # The next day's full register extract leaves out one member (a move out).
    (first,) = (landing / "household_register" / DAY.isoformat()).iterdir()
    with open(first, encoding="utf-8-sig", newline="") as fh:
        header, *members = list(csv.reader(fh))
    moved = next(m for m in members if m[header.index("与户主关系")] != "户主")
    second = landing / "household_register" / NEXT.isoformat() / f"household_register_{NEXT:%Y%m%d}.csv"
    second.parent.mkdir(parents=True)
    with open(second, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_ALL).writerows([header, *(m for m in members if m is not moved)])
    with migrated_database(server) as db:
        for source in ("household_register", "village_officials", "medical_settlements", "employment"):
            with contextlib.suppress(FileNotFoundError, SourceFailed):
                ingest_source(source, DAY, db, landing)
        build_marts(DAY, db)
        yield db, landing, len(members)


def test_a_batch_published_during_the_build_waits_for_the_next_run(county):
    db, landing, listed_first = county
    ingest_source("household_register", NEXT, db, landing)
    with connect(db, autocommit=True) as conn:
        (batch_id,) = conn.execute(
            "select batch_id from audit.load_batches where source = 'household_register' and logical_date = %s",
            (NEXT,),
        ).fetchone()
        # Loaded and gated but not yet published when the build starts; published by "another
        # session" the moment stg_household_register__members has read the ledger.
        conn.execute("update audit.load_batches set status = 'loaded' where batch_id = %s", (batch_id,))
        conn.execute(
            f"""create function public.hm_publish_now() returns event_trigger language plpgsql as $$
                begin
                    if exists (
                        select 1 from pg_event_trigger_ddl_commands()
                        where object_identity like '%.stg_household_register__members__batch_scope'
                    ) then
                        update audit.load_batches set status = 'published' where batch_id = {batch_id};
                    end if;
                end $$"""
        )
        conn.execute(
            "create event trigger hm_publish_during_build on ddl_command_end "
            "when tag in ('CREATE TABLE AS') execute function public.hm_publish_now()"
        )
    try:
        build_marts(NEXT, db)
    finally:
        with connect(db, autocommit=True) as conn:
            conn.execute("drop event trigger if exists hm_publish_during_build")
            conn.execute("drop function if exists public.hm_publish_now()")
    with connect(db, autocommit=True) as conn:
        assert conn.execute("select status from audit.load_batches where batch_id = %s", (batch_id,)).fetchone() == (
            "published",
        )
    # This build kept the first extract, once; the batch is not in the members' recorded scope.
    assert _count(db, "select count(*) from staging.stg_household_register__members") == listed_first
    assert _count(db, "select count(distinct person_key) from staging.stg_household_register__members") == (
        listed_first
    )
    assert (
        _count(
            db,
            "select count(*) from audit.dbt_batch_scope "
            f"where relation = 'staging.stg_household_register__members' and batch_id = {batch_id}",
        )
        == 0
    )

    build_marts(NEXT, db)  # the next run finds the batch changed
    assert _count(db, "select count(*) from staging.stg_household_register__members") == listed_first - 1
    daily = _register_rows(db)
    run_dbt(
        [
            "run",
            "--full-refresh",
            "--select",
            *(t.split(".")[1] for t in REGISTER_TABLES),
            "--vars",
            f"{{as_of_date: '{NEXT}'}}",
        ],
        db=db,
        salt=id_salt(),
    )
    assert _register_rows(db) == daily
