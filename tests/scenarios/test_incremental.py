"""Full refresh equals the day-by-day incremental runs (issue 10), with late and corrected data.

One database is built day by day through the pipeline functions the DAG tasks call
(``ingest_source``, ``build_marts``), with what real days bring: the second day's hospital
settlements arrive late (after the third day was built) and that past date is re-run, and
the third day corrects two settlements first sent on the first day. Then ``dbt build
--full-refresh`` as of the last day rebuilds everything from scratch in the same database;
every mart, every reporting view and the lifecycle table must hold the same rows as the
incremental runs left (batch ids and timestamps aside). The income history
(``int_household_income_changes``) is a record of what each run knew and is never rebuilt
by a full refresh (``full_refresh=false``).

A correction counts from its own date (issue 10): one of the corrections takes scenario S2's
household of 2,000.01 yuan out of pocket to 1,990.01 on the third day; its illness warning,
raised on the first day, is lifted on the third (transition ``corrected``, lifted by
``correction``), and its history before the third day is what the second day's run wrote.
"""

from __future__ import annotations

import csv
import secrets
import shutil
from datetime import date
from decimal import Decimal

import pytest
from support import REGISTER_TABLES, relation_rows
from test_reruns import _clean_settlement

from household_monitoring.contracts import load_contracts
from household_monitoring.database import connect
from household_monitoring.dbt import run_dbt
from household_monitoring.pipeline import SourceFailed, build_marts, id_salt, ingest_source
from household_monitoring.sample_data.generator import generate_county

pytestmark = pytest.mark.e2e
DAYS = [date(2024, 7, 15), date(2024, 7, 16), date(2024, 7, 17)]
LATE = ("medical_settlements", DAYS[1])  # sent after DAYS[2] was built
VOLATILE = ("batch", "_at", "seconds", "dag_run", "superseded_by")
WALKED = "intermediate.int_risk_warning_states_walked"
CORRECTED_HOUSEHOLD = "6531291000019003"  # S2: 2,000.01 yuan out of pocket on D1 (yellow), corrected on the last day


def _ingest_day(db, landing, day: date, sources=None) -> None:
    for source in sources or load_contracts():
        try:
            ingest_source(source, day, db, landing)
        except FileNotFoundError:
            continue
        except SourceFailed:
            pass  # the sample has deliberately damaged files; held back for the day, as in production


def _marts(db) -> dict[str, list[str]]:
    with connect(db, autocommit=True) as conn:
        relations = [
            f"{schema}.{name}"
            for schema, name in conn.execute(
                """select table_schema, table_name from information_schema.tables
                   where table_schema in ('marts', 'reporting') order by 1, 2"""
            ).fetchall()
        ]
        return {
            relation: relation_rows(conn, relation, VOLATILE) for relation in [*relations, WALKED, *REGISTER_TABLES]
        }


def _row_versions(db) -> dict[tuple, str]:
    """The lifecycle table's rows and their xmin (the transaction that wrote each row)."""
    with connect(db, autocommit=True) as conn:
        return {
            tuple(key): xmin
            for *key, xmin in conn.execute(
                f"select household_id, rule_id, window_start, event_seq, xmin::text from {WALKED}"
            ).fetchall()
        }


def _register_versions(db) -> dict[str, set[str]]:
    """The transactions (xmin) that wrote the rows of each register table."""
    with connect(db, autocommit=True) as conn:
        return {
            table: {xmin for (xmin,) in conn.execute(f"select distinct xmin::text from {table}").fetchall()}
            for table in REGISTER_TABLES
        }


def _warning_history(db, household_id: str) -> list[tuple]:
    """The illness warnings' status spells of a household (fct_risk_warning_status_history)."""
    with connect(db, autocommit=True) as conn:
        return conn.execute(
            """select warning_id, transition, status, warning_level, valid_from, valid_to
               from marts.fct_risk_warning_status_history
               where household_id = %s and rule_id = 'ILLNESS_OOP' order by warning_id, valid_from""",
            (household_id,),
        ).fetchall()


def _state_on(history: list[tuple], day: date) -> list[tuple]:
    """Each warning's status and level on a date, from its status spells."""
    return [
        (warning_id, status, level)
        for warning_id, _, status, level, valid_from, valid_to in history
        if valid_from <= day and (valid_to is None or day < valid_to)
    ]


LINEAGE = "marts.fct_risk_warning_lineage"
CHAIN = [
    "intermediate.int_risk_events_unioned",
    "intermediate.int_risk_warning_states_walked",
    "marts.fct_risk_warning_events",
    "marts.fct_risk_warning_status_history",
    LINEAGE,
]


def _household_versions(db, relation: str) -> dict[str, set[str]]:
    """Per household, the transactions (xmin) that wrote its rows of a table."""
    with connect(db, autocommit=True) as conn:
        return {
            household: set(xmins)
            for household, xmins in conn.execute(
                f"select household_id, array_agg(distinct xmin::text) from {relation} group by household_id"
            ).fetchall()
        }


def _latest_feed_entry(db, relation: str) -> set[str] | None:
    """The households a model's latest build computed again (audit.dbt_household_changes); None: every one."""
    with connect(db, autocommit=True) as conn:
        households = [
            household
            for (household,) in conn.execute(
                """select household_id from audit.dbt_household_changes
                   where relation = %s
                     and change_seq = (select max(change_seq) from audit.dbt_household_changes where relation = %s)""",
                (relation, relation),
            ).fetchall()
        ]
    return None if None in households else set(households)


def _feed_heads(db) -> dict[str, int]:
    """Per model, the change_seq of its latest entry in the change feed."""
    with connect(db, autocommit=True) as conn:
        heads = conn.execute("select relation, max(change_seq) from audit.dbt_household_changes group by relation")
        return dict(heads.fetchall())


@pytest.fixture(scope="module")
def daily(server, tmp_path_factory, var_dir):
    """The database built day by day, with a late file, a re-run of a past date and a correction."""
    from household_monitoring.database import create_database, drop_database, migrate

    landing = tmp_path_factory.mktemp("landing_incremental")
    generate_county(landing, households=200, start=DAYS[0], end=DAYS[-1])
    late_folder = landing / LATE[0] / LATE[1].isoformat()
    held = tmp_path_factory.mktemp("late") / "folder"
    shutil.move(late_folder, held)
    # The last day corrects a settlement of the first: 10.00 yuan moved to medical assistance.
    first = next((landing / "medical_settlements" / DAYS[0].isoformat()).iterdir())
    # With the late file comes the first day's file again, unchanged (a cumulative export).
    shutil.copy(first, held / f"resent_{first.name}")
    with open(first, encoding="gbk", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    row = next(r for r in rows if _clean_settlement(header, r))
    # And S2's settlement of 2,000.01 yuan (the only one of that amount) to 1,990.01: below the threshold.
    (s2_row,) = [r for r in rows if r[header.index("个人自付")] == "2000.01" and r is not row]
    for corrected in (row, s2_row):
        corrected[header.index("医疗救助支付")] = str(Decimal(corrected[header.index("医疗救助支付")]) + 10)
        corrected[header.index("个人自付")] = str(Decimal(corrected[header.index("个人自付")]) - 10)
    with open(landing / "medical_settlements" / DAYS[-1].isoformat() / "corrections.csv", "w", encoding="gbk") as fh:
        csv.writer(fh).writerows([header, row, s2_row])
    # The last day also brings a new full register extract, without one member of the first:
    # that person moved out on the last day.
    (first_register,) = (landing / "household_register" / DAYS[0].isoformat()).iterdir()
    with open(first_register, encoding="utf-8-sig", newline="") as fh:
        register_header, *members = list(csv.reader(fh))
    moved = next(m for m in members if m[register_header.index("与户主关系")] != "户主")
    new_register = landing / "household_register" / DAYS[-1].isoformat() / f"household_register_{DAYS[-1]:%Y%m%d}.csv"
    new_register.parent.mkdir()
    with open(new_register, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_ALL).writerows([register_header, *(m for m in members if m is not moved)])

    name = f"hm_test_{secrets.token_hex(4)}"
    db = create_database(server, name)
    with connect(db) as conn:
        migrate(conn)
    history_before_correction = None
    register_versions = []
    lineage_versions = []
    for day in DAYS:
        _ingest_day(db, landing, day)
        build_marts(day, db)
        register_versions.append(_register_versions(db))
        lineage_versions.append((_household_versions(db, LINEAGE), _latest_feed_entry(db, LINEAGE)))
        if day == DAYS[1]:
            history_before_correction = _warning_history(db, CORRECTED_HOUSEHOLD)
    before_late = _row_versions(db)
    shutil.move(held, late_folder)  # the late file lands; the engineer re-runs its date, then the day
    _ingest_day(db, landing, LATE[1], [LATE[0]])
    build_marts(LATE[1], db)
    build_marts(DAYS[-1], db)
    after_late = _row_versions(db)
    before_quiet = (_household_versions(db, LINEAGE), _feed_heads(db))
    build_marts(DAYS[-1], db)  # the same day again, nothing new: a quiet build
    quiet = (before_quiet, (_household_versions(db, LINEAGE), _feed_heads(db)))
    moved_household = moved[register_header.index("户编号")]
    yield (
        db,
        before_late,
        after_late,
        history_before_correction,
        register_versions,
        moved_household,
        lineage_versions,
        quiet,
    )
    drop_database(server, name)


def test_daily_runs_carry_the_lifecycle_forward(daily):
    """The rows of streams no event changed are not written again by a later run (same xmin)."""
    _, before, after, *_ = daily
    kept = [key for key, xmin in after.items() if before.get(key) == xmin]
    rewritten = [key for key, xmin in after.items() if before.get(key) != xmin]
    assert len(kept) > 100 and len(rewritten) > 0
    assert len(kept) > 5 * len(rewritten)


def test_a_daily_run_computes_again_only_the_households_of_the_change_feed(daily):
    """The lineage, last of the chain, rewrites on the second day only the households its feed entry names."""
    db, *_, lineage_versions, quiet = daily
    (_, first_entry), (second_day, second_entry), _ = lineage_versions
    first_day = lineage_versions[0][0]
    assert first_entry is None  # the first build: every household
    rewritten = {household for household, xmins in second_day.items() if xmins != first_day.get(household)}
    kept = set(second_day) - rewritten
    assert rewritten <= second_entry
    assert len(kept) > len(rewritten) > 0
    with connect(db, autocommit=True) as conn:
        reads = conn.execute(
            """select reads.relation, reads.upstream, count(changes.*)
               from audit.dbt_household_change_reads as reads
               left join audit.dbt_household_changes as changes
                 on changes.relation = reads.upstream and changes.change_seq > coalesce(reads.read_through, 0)
               where reads.upstream <> '(shared inputs)'
               group by reads.relation, reads.upstream order by 1"""
        ).fetchall()
    # a quiet build (nothing new) computes no household again: no row rewritten, no feed entry, and the
    # latest entries stay
    (lineage_before, heads_before), (lineage_after, heads_after) = quiet
    assert lineage_after == lineage_before
    assert heads_after == heads_before
    assert sorted(heads_after) == sorted(CHAIN)
    # every reader has taken every change of its upstream model: none is left unread
    assert reads == [
        ("intermediate.int_risk_warning_states_walked", "intermediate.int_risk_events_unioned", 0),
        ("marts.fct_risk_warning_events", "intermediate.int_risk_warning_states_walked", 0),
        ("marts.fct_risk_warning_lineage", "marts.fct_risk_warning_events", 0),
        ("marts.fct_risk_warning_status_history", "marts.fct_risk_warning_events", 0),
    ]


def test_full_refresh_equals_the_daily_runs(daily):
    db, *_ = daily
    incremental = _marts(db)
    run_dbt(["build", "--full-refresh", "--vars", f"{{as_of_date: '{DAYS[-1]}'}}"], db=db, salt=id_salt())
    refreshed = _marts(db)
    assert sorted(refreshed) == sorted(incremental)
    differing = [relation for relation in incremental if refreshed[relation] != incremental[relation]]
    assert differing == []
    assert len(incremental["marts.fct_risk_warnings"]) == 10  # the calibrated sample: a few per cent of 206 households
    assert len(incremental["marts.mart_household_income"]) == 3 * len(incremental["marts.mart_household_risk"])


def test_a_file_sent_again_unchanged_moves_no_record_and_no_lineage(daily):
    """The first day's settlements sent again on the second: each record keeps the delivery that brought its values."""
    db, *_ = daily
    with connect(db, autocommit=True) as conn:
        resent = conn.execute(
            """select resent.batch_id, resent.rows_loaded, resent.message, original.rows_loaded
               from audit.load_batches as resent
               inner join audit.load_batches as original
                 on original.file_hash = resent.file_hash and original.logical_date = %s
                    and original.status = 'published'
               where starts_with(resent.file_name, 'resent_') and resent.status = 'published'""",
            (DAYS[0],),
        ).fetchone()
        cited = conn.execute(
            """select batches.logical_date, starts_with(batches.file_name, 'resent_'), count(*)
               from marts.fct_risk_warning_lineage as lineage
               inner join audit.load_batches as batches on lineage.batch_id = batches.batch_id
               where lineage.evidence_model = 'stg_medical_settlements__settlements'
               group by 1, 2 order by 1, 2"""
        ).fetchall()
        in_staging = conn.execute(
            "select count(*) filter (where batch_id = %s), count(*) filter (where known_on = %s)"
            " from staging.stg_medical_settlements__settlements",
            (resent[0], DAYS[1]),
        ).fetchone()
    assert resent[1] == resent[3] > 0 and "same content as batch" in resent[2]
    assert in_staging[0] == 0  # not one record's version is the resend
    # the first day's settlements and the last day's corrections (S2's lifted warning): never the resend
    assert [(day, is_resend) for day, is_resend, _ in cited] == [(DAYS[0], False), (DAYS[-1], False)]


def test_a_correction_counts_from_its_own_date(daily):
    """The corrected settlement lifts the open illness warning on the correction's date (issue 10)."""
    db, _, _, history_before, *_ = daily
    with connect(db, autocommit=True) as conn:
        sums = conn.execute(
            """select known_on, out_of_pocket_added from intermediate.int_medical_out_of_pocket_summed_to_household_day
               where household_id = %s order by known_on""",
            (CORRECTED_HOUSEHOLD,),
        ).fetchall()
        warnings = conn.execute(
            """select warning_level, status, raised_on, lifted_on, lifted_by from marts.fct_risk_warnings
               where household_id = %s and rule_id = 'ILLNESS_OOP'""",
            (CORRECTED_HOUSEHOLD,),
        ).fetchall()
        transitions = conn.execute(
            """select transition, event_date, status_after, signal_value from marts.fct_risk_warning_events
               where household_id = %s and rule_id = 'ILLNESS_OOP' order by event_seq""",
            (CORRECTED_HOUSEHOLD,),
        ).fetchall()
        cited = conn.execute(
            """select lineage.transition, batches.logical_date, batches.file_name = 'corrections.csv'
               from marts.fct_risk_warning_lineage as lineage
               inner join audit.load_batches as batches on lineage.batch_id = batches.batch_id
               where lineage.household_id = %s and lineage.evidence_id in (
                   select settlement_id from staging.stg_medical_settlements__corrected_versions)
               order by lineage.event_date""",
            (CORRECTED_HOUSEHOLD,),
        ).fetchall()
        versions = conn.execute(
            """select published_on, out_of_pocket from staging.stg_medical_settlements__corrected_versions
               where out_of_pocket in (2000.01, 1990.01) order by published_on"""
        ).fetchall()
    assert sums == [(DAYS[0], Decimal("2000.01")), (DAYS[-1], Decimal("-10.00"))]  # not back-dated to DAYS[0]
    # each transition cites the version it was raised on: the first day's row, then the correction's (the
    # unchanged resend of DAYS[1] is no version)
    assert cited == [("raised", DAYS[0], False), ("corrected", DAYS[-1], True)]
    assert versions == [(DAYS[0], Decimal("2000.01")), (DAYS[-1], Decimal("1990.01"))]
    assert warnings == [("yellow", "lifted", DAYS[0], DAYS[-1], "correction")]
    assert transitions == [
        ("raised", DAYS[0], "awaiting_verification", Decimal("2000.01")),
        ("corrected", DAYS[-1], "lifted", Decimal("1990.01")),
    ]
    history = _warning_history(db, CORRECTED_HOUSEHOLD)
    assert [_state_on(history, day) for day in DAYS[:-1]] == [_state_on(history_before, day) for day in DAYS[:-1]]
    assert _state_on(history_before, DAYS[0])[0][1:] == ("awaiting_verification", "yellow")
    assert _state_on(history, DAYS[-1])[0][1:] == ("lifted", None)


def test_the_register_tables_are_derived_again_only_on_a_register_day(daily):
    """A day without a register extract rewrites no register row; the next extract closes a stay."""
    db, *_, versions, moved_household, _, _ = daily
    assert versions[1] == versions[0]  # DAYS[1]: no register file
    assert all(versions[2][table].isdisjoint(versions[1][table]) for table in REGISTER_TABLES[:1] + REGISTER_TABLES[2:])
    assert versions[2][REGISTER_TABLES[1]] > versions[1][REGISTER_TABLES[1]]  # the first extract's rows kept
    with connect(db, autocommit=True) as conn:
        closed = conn.execute(
            "select household_id, valid_from, valid_to from intermediate.int_household_memberships where not is_current"
        ).fetchall()
        listed = conn.execute(
            """select extract_date, count(*) from staging.stg_household_register__extract_members
               group by extract_date order by extract_date"""
        ).fetchall()
    assert closed == [(moved_household, DAYS[0], DAYS[1])]
    first_count = listed[0][1]
    assert listed == [(DAYS[0], first_count), (DAYS[-1], first_count - 1)]
