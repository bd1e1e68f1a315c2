"""The quality gate: a batch is published only when its blocking expectations hold."""

from __future__ import annotations

from datetime import date

from household_monitoring.loading import load_file
from household_monitoring.quality import HELD_BACK_ADVICE, validate_batch
from household_monitoring.sample_data.generator import REGISTER_HEADER

ROW = "{hh},{pid},名{n},户主,男,1980-01-01,653129100001,脱贫户,普通劳动力,正常,"


def _register(tmp_path, name, ids):
    path = tmp_path / name
    lines = [",".join(REGISTER_HEADER)] + [ROW.format(hh=f"65312910000100{n:02d}", pid=pid, n=n) for n, pid in ids]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ids(count):
    from stdnum.cn import ric

    out = []
    for n in range(count):
        base = f"65312919800101{n:03d}"
        out.append((n, base + ric.calc_check_digit(base + "0")))
    return out


def test_a_truncated_full_extract_is_held_back(fresh_db, contracts, tmp_path):
    from household_monitoring.database import connect

    # Not autocommit, as the pipeline's ingest task connects: the gate's view must still be
    # visible to Great Expectations' own connection.
    with connect(fresh_db) as conn:
        _check_truncation(conn, fresh_db, contracts["household_register"], tmp_path)


def _check_truncation(conn, test_db, contract, tmp_path):
    first = load_file(conn, contract, _register(tmp_path, "r1.csv", _ids(20)), date(2032, 1, 1))
    assert validate_batch(conn, test_db, contract, first.batch_id).status == "published"
    shrunk = load_file(conn, contract, _register(tmp_path, "r2.csv", _ids(17)), date(2032, 1, 2))
    gate = validate_batch(conn, test_db, contract, shrunk.batch_id)
    assert gate.status == "failed_validation"
    assert gate.message == (
        "r2.csv: failed blocking expectations: expect_table_row_count_to_be_between (volume: a full extract keeps"
        " at least 90% of the previous published one (20 rows); fewer means a truncated export): observed 17. "
        + HELD_BACK_ADVICE
    )
    blocked = conn.execute(
        "select observed_value from audit.dq_results where batch_id = %s and not success", (shrunk.batch_id,)
    ).fetchall()
    assert blocked == [("17",)]
    steady = load_file(conn, contract, _register(tmp_path, "r3.csv", _ids(18)), date(2032, 1, 3))
    assert validate_batch(conn, test_db, contract, steady.batch_id).status == "published"  # 18 >= 90 % of 20


def test_every_expectation_keeps_its_counts_and_examples_show_only_where_found(fresh_db, contracts, tmp_path):
    """Issue 10: counts for every expectation, example values only for those that found some,
    and no statement brings the batch to the client (GX once fetched it whole to read its columns)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from household_monitoring.database import connect
    from household_monitoring.quality import build_suite

    contract = contracts["household_register"]
    fetched: list[tuple[int, str]] = []

    def after(conn_, cursor, statement, parameters, context, executemany):
        if statement.lstrip().lower().startswith("select"):
            fetched.append((cursor.rowcount, statement))

    with connect(fresh_db, autocommit=True) as conn:
        batch = load_file(conn, contract, _register(tmp_path, "r.csv", _ids(25)), date(2032, 2, 1))
        assert batch.rows_loaded == 25
        # A loader bug the gate must catch: two rows with a code the contract does not know.
        conn.execute(
            "update raw.household_register set sex = '?' where _batch_id = %s and _row_number in (3, 7)",
            (batch.batch_id,),
        )
        event.listen(Engine, "after_cursor_execute", after)
        try:
            gate = validate_batch(conn, fresh_db, contract, batch.batch_id)
        finally:
            event.remove(Engine, "after_cursor_execute", after)
        assert gate.status == "failed_validation"
        assert gate.message == (
            "r.csv: failed blocking expectations: expect_column_values_to_be_in_set(sex) (contract: sex codes): "
            f"2 of 25 rows, e.g. '?'. {HELD_BACK_ADVICE}"
        )
        rows = conn.execute(
            """select expectation_type, column_name, success, unexpected_count, element_count,
                      details -> 'partial_unexpected_list'
               from audit.dq_results where batch_id = %s order by result_id""",
            (batch.batch_id,),
        ).fetchall()
    assert len(rows) == len(build_suite(contract, date(2032, 2, 1)).expectations)
    by_check = {(r[0], r[1]): r[2:] for r in rows}
    assert by_check[("expect_column_values_to_be_in_set", "sex")] == (False, 2, 25, ["?", "?"])
    assert by_check[("expect_column_values_to_not_be_null", "person_id")] == (True, 0, 25, [])
    assert by_check[("expect_column_values_to_match_regex", "person_id")] == (True, 0, 25, [])
    assert by_check[("expect_table_row_count_to_be_between", None)][:1] == (True,)
    # Nothing fetched the batch's rows: every select returned fewer rows than the batch has.
    assert fetched and max(count for count, _ in fetched) < 25, [s for c, s in fetched if c >= 25]


def _accepts(checks, value: str) -> bool:
    """Whether ``value`` passes the gate's expectations ``checks`` (as GX evaluates them in SQL)."""
    import re

    for expectation, _ in checks:
        kind = type(expectation).__name__
        if kind == "ExpectColumnValuesToMatchRegex" and not re.search(expectation.regex, value):
            return False
        if kind == "ExpectColumnValueLengthsToEqual" and len(value) != expectation.value:
            return False
        if kind == "ExpectColumnValueLengthsToBeBetween" and not (
            (expectation.min_value is None or len(value) >= expectation.min_value)
            and (expectation.max_value is None or len(value) <= expectation.max_value)
        ):
            return False
    return True


def test_counted_patterns_are_checked_as_the_same_strings_in_cheaper_form(contracts):
    """Issue 10: the gate checks ``{m,n}`` patterns as an unbounded repetition plus a length, no other strings."""
    import random
    import re

    from household_monitoring.quality import RESIDENT_ID_PATTERN, pattern_expectations

    record = pattern_expectations("settlement_id", "^[0-9A-Za-z][0-9A-Za-z_-]{0,39}$")
    assert [(type(e).__name__, e.regex if hasattr(e, "regex") else (e.min_value, e.max_value)) for e, _ in record] == [
        ("ExpectColumnValuesToMatchRegex", "^[0-9A-Za-z][0-9A-Za-z_-]*$"),
        ("ExpectColumnValueLengthsToBeBetween", (1, 40)),
    ]
    resident = pattern_expectations("person_id", RESIDENT_ID_PATTERN)
    assert [e.regex if hasattr(e, "regex") else e.value for e, _ in resident] == [r"^\d+[\dX]$", 18]
    assert "checked as ^\\d+[\\dX]$ and 18 characters" in resident[0][1]
    # Groups, alternatives and patterns without a count are checked as they are.
    # So are escapes that are not one character: zero-width (\y) or several characters for one (\x41).
    for kept in (
        r"^\d{6}(\d{3}(\d{3})?)?$",
        r"^1\d{10}$|^0\d{2,3}-?\d{7,8}$",
        "^[A-Za-z0-9][A-Za-z0-9_-]*$",
        r"^\y\d{3}$",
        r"^\x41{3}$",
        r"^\101{2}$",
        r"^[\x41]{2}$",
    ):
        assert [(e.regex, how) for e, how in pattern_expectations("c", kept)] == [(kept, "")]
    patterns = {c.pattern for contract in contracts.values() for c in contract.columns if c.pattern}
    patterns |= {RESIDENT_ID_PATTERN, "^a{3,}$", r"^[\]x]{2,4}b$", "^ab?c$"}
    alphabets = ("aA0_-X9fW1b]x@.c-", "0123456789", "0123456789X", "W0123456789abcdef")  # digits: IDs that match
    rng = random.Random(10)
    matched = 0
    for pattern in sorted(patterns):
        checks = pattern_expectations("c", pattern)
        for _ in range(20_000):
            alphabet = rng.choice(alphabets)
            value = "".join(rng.choice(alphabet) for _ in range(rng.choice((0, 1, 2, 3, 4, 5, 12, 16, 17, 18, 40, 41))))
            matched += bool(re.search(pattern, value))
            assert bool(re.search(pattern, value)) == _accepts(checks, value), (pattern, value)
    assert matched > 10_000  # both ways: many values match, many do not


def test_a_broken_row_rule_fails_the_gate_and_names_its_rows(fresh_db, contracts, tmp_path):
    """Row rules are columns of the gate view, counted in GX's one aggregate query (issue 10);
    a row that breaks one is shown as the rule's example, with its row number and values."""
    from support import GOOD_SETTLEMENT, SETTLEMENTS_HEADER

    from household_monitoring.database import connect

    contract = contracts["medical_settlements"]
    path = tmp_path / "s.csv"
    lines = [GOOD_SETTLEMENT.format(n=n) for n in range(4)]
    path.write_text("\n".join([SETTLEMENTS_HEADER, *lines]) + "\n", encoding="utf-8")
    with connect(fresh_db, autocommit=True) as conn:
        batch = load_file(conn, contract, path, date(2032, 3, 1))
        assert batch.rows_loaded == 4
        # Loader bugs the gate must catch: a changed amount, a discharge before the admission.
        conn.execute(
            "update raw.medical_settlements set out_of_pocket = 10318.19 where _batch_id = %s and _row_number = 3",
            (batch.batch_id,),
        )
        conn.execute(
            "update raw.medical_settlements set discharge_date = '2024-05-01' where _batch_id = %s and _row_number = 5",
            (batch.batch_id,),
        )
        gate = validate_batch(conn, fresh_db, contract, batch.batch_id)
        assert gate.status == "failed_validation"
        assert gate.message == (
            "s.csv: failed blocking expectations: expect_column_values_to_be_null(_rule_out_of_pocket_balances) "
            "(contract row rule out_of_pocket_balances): 1 of 4 rows, e.g. 'row 3: out_of_pocket 10318.19 <> "
            "10318.18'; expect_column_values_to_be_null(_rule_discharge_not_before_admission) (contract row rule "
            "discharge_not_before_admission): 1 of 4 rows, e.g. 'row 5: discharge_date 2024-05-01 < admission_date "
            f"2024-05-08'. {HELD_BACK_ADVICE}"
        )
        rows = conn.execute(
            """select column_name, success, unexpected_count, element_count, details -> 'partial_unexpected_list',
                      details ->> 'rule'
               from audit.dq_results where batch_id = %s and column_name like '\\_rule\\_%%' order by result_id""",
            (batch.batch_id,),
        ).fetchall()
    assert rows == [
        (
            "_rule_out_of_pocket_balances",
            False,
            1,
            4,
            ["row 3: out_of_pocket 10318.19 <> 10318.18"],
            "contract row rule out_of_pocket_balances",
        ),
        (
            "_rule_discharge_not_before_admission",
            False,
            1,
            4,
            ["row 5: discharge_date 2024-05-01 < admission_date 2024-05-08"],
            "contract row rule discharge_not_before_admission",
        ),
    ]
