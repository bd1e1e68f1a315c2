"""Column checks: exact canonical values and exact reasons, and the ID check against python-stdnum."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pyarrow as pa
from stdnum.cn import ric

from household_monitoring.fields import check_date, check_money, check_resident_id


def _check(fn, values, *args):
    result = fn("col", pa.array(values, pa.string()), *args)
    return result.values.to_pylist(), result.problems.to_pylist()


def test_money_keeps_fen_exactly_and_names_bad_cells():
    values, problems = _check(check_money, ["10318.18", "2000", "0.5", "", "1,,0", "-3.00", "1.234", "1.234,5"])
    assert values == [Decimal("10318.18"), Decimal("2000.00"), Decimal("0.50"), None, None, None, None, None]
    assert problems == [
        None,
        None,
        None,
        None,
        "col: not an amount in yuan: '1,,0'",
        "col: negative amount: '-3.00'",
        "col: not an amount in yuan: '1.234'",
        "col: not an amount in yuan: '1.234,5'",
    ]


def test_money_as_finance_exports_write_it():
    values, problems = _check(check_money, ["1,234.50", "１２３.４", "￥101.00", "2,306.78元", "12,34.00", "-1,000.00"])
    assert values == [Decimal("1234.50"), Decimal("123.40"), Decimal("101.00"), Decimal("2306.78"), None, None]
    assert problems[:4] == [None] * 4
    assert problems[4:] == ["col: not an amount in yuan: '12,34.00'", "col: negative amount: '-1,000.00'"]


def test_dates_in_contract_formats_and_impossible_dates_refused():
    formats = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")
    values, problems = _check(
        check_date, ["2024-03-15", "2024/3/5", "20240229", "2023-02-29", "15/03/2024", ""], formats
    )
    assert values == [date(2024, 3, 15), date(2024, 3, 5), date(2024, 2, 29), None, None, None]
    assert problems[:3] == [None, None, None]
    assert problems[3] == "col: impossible date: '2023-02-29'"
    assert (
        problems[4] == "col: day-month order unknown (the contract sets no date_order, none is guessed): '15/03/2024'"
    )
    assert problems[5] is None


def test_chinese_export_date_spellings():
    from household_monitoring.contracts import DEFAULT_DATE_FORMATS

    values, problems = _check(
        check_date, ["2024年7月18日", "2024.07.18", "2024-07-18 00:00:00", "2024-07-18 08:30:00"], DEFAULT_DATE_FORMATS
    )
    assert values == [date(2024, 7, 18)] * 3 + [None]
    assert problems[3].startswith("col: not a date in")


def test_day_first_dates_only_when_the_contract_says_so():
    values, problems = _check(check_date, ["03/04/2024"], ("%d/%m/%Y",))
    assert values == [date(2024, 4, 3)] and problems == [None]


def _valid_id(rng: random.Random) -> str:
    base = f"653129{rng.randint(1940, 2020)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return base + ric.calc_check_digit(base + "0")


def _stdnum_valid(number: str) -> bool:
    try:
        return ric.is_valid(number)
    except KeyError:  # stdnum 2.2: an area prefix without a county entry
        return False


def test_resident_id_check_agrees_with_python_stdnum():
    rng = random.Random(11643)
    samples = []
    for _ in range(3000):
        number = _valid_id(rng)
        mutation = rng.randrange(6)
        if mutation == 1:  # typing error in a digit
            i = rng.randrange(17)
            number = number[:i] + str((int(number[i]) + 1) % 10) + number[i + 1 :]
        elif mutation == 2:  # impossible birth date (check digit recomputed)
            base = number[:10] + "0231" + number[14:17]
            number = base + ric.calc_check_digit(base + "0")
        elif mutation == 3:  # unknown area code (check digit recomputed)
            base = "999999" + number[6:17]
            number = base + ric.calc_check_digit(base + "0")
        elif mutation == 4:
            number = number[:17]
        samples.append(number)
    values, _ = _check(check_resident_id, samples)
    ours = [v is not None for v in values]
    assert ours == [_stdnum_valid(s) for s in samples]
    assert 400 < sum(not ok for ok in ours) < 2600  # the sample really mixes good and bad IDs


def test_resident_id_reasons_and_normalisation():
    good = "653129201902207995"
    values, problems = _check(check_resident_id, [f" {good} ", good[:-1] + "0", "65312920190220799", good[:-1] + "x"])
    assert values[0] == good
    assert problems[1] == "col: resident ID check digit (MOD 11-2) is wrong"
    assert problems[2] == "col: resident ID must have 18 characters, has 17"
    assert problems[3] == "col: resident ID check digit (MOD 11-2) is wrong"  # X is upper-cased, then checked
    born_2030 = "65312920300101001"
    values, problems = _check(check_resident_id, [born_2030 + ric.calc_check_digit(born_2030 + "0")])
    assert (values[0], problems[0]) == (None, "col: resident ID holds an impossible birth date")  # after today


def test_an_iso_date_takes_two_digit_month_and_day_and_a_full_width_comma_is_no_separator():
    from household_monitoring.contracts import DEFAULT_DATE_FORMATS

    values, problems = _check(check_date, ["2022-05-23", "2022-05-2", "2022-5-23", "2022/5/2"], DEFAULT_DATE_FORMATS)
    assert values == [date(2022, 5, 23), None, None, date(2022, 5, 2)]  # '2022-05-2' may be '2022-05-2x' cut
    assert problems[1].startswith("col: not a date in %Y-%m-%d or ") and problems[1].endswith(": '2022-05-2'")
    values, problems = _check(check_money, ["1，200.00", "１，２００", "1,200.00"])
    assert values == [None, None, Decimal("1200.00")]
    assert problems[0] == (
        "col: a full-width comma (，) in an amount is ambiguous (it separates list items in Chinese text): '1，200.00'"
    )
