"""Column checks: a block of extract cells (Arrow strings, as read) -> canonical values and problems.

Each check takes one column of a block and returns ``ColumnResult(values,
problems, text)``: ``values`` typed for the raw table (``string``, ``decimal128(14, 2)``
for yuan, ``date32``, ``int64``; null for an empty or bad cell), ``problems``
one string per row, null where the cell is fine, else ``'<column>: <reason>'``
(the quarantine's wording), and ``text``, when every cell is already written as
PostgreSQL reads that value (the usual file: plain amounts, ISO dates), the cells
themselves, which the loader then sends to ``COPY`` instead of formatting ``values``
again (issue 10: formatting decimals and dates was a seventh of the loader's time).
The checks are vectorised with Arrow compute and NumPy: this is the per-row hot
path of the loader (one million rows in about a second), where a Python call per
cell costs ~15 s.

Rules and their sources:

- Money: yuan with at most two decimals and at most 12 integer digits (the raw
  type ``numeric(14,2)``); full-width digits, a leading ¥/￥ or a trailing 元 and
  thousands separators in groups of three are accepted (``1,234.50``), anything
  else ambiguous (``1,,0``, ``12.345``, ``1.234,5``, a full-width comma
  ``1，200.00``, which separates list items in Chinese text) is refused, and so are
  negative amounts (no extract carries one).
- Dates: the contract's ``date_formats`` (strptime syntax, ``%Y %m %d`` only), in
  order, plus the day-month formats of its ``date_order``; a date must exist (no 30
  February) and fall in 1900..2100. The ISO shape ``%Y-%m-%d`` takes two-digit month
  and day only (ISO 8601): ``2022-05-2`` is refused, it may be ``2022-05-2x`` cut
  short. Without a ``date_order``, ``15/03/2024`` is
  refused as day-month order unknown: one column is read one way, never per row.
- Resident IDs: GB 11643-1999: 17 digits and a check character (MOD 11-2,
  ``X`` for 10), a real birth date (not after today), and an area code that python-stdnum's
  division database (``stdnum.cn.ric.get_birth_place``) knows for the birth
  year; the test suite checks this against ``stdnum.cn.ric.is_valid``. Upper-cased
  (``x`` -> ``X``) and stripped of surrounding spaces. A 15-digit ID (GB 11643-1989,
  before 1999) is converted to 18 digits when the contract says ``legacy_15:
  convert`` (century ``19`` inserted, check character computed), else refused. An
  ID written as a number (``6.53129e+17``, ``653129...995.0``: a float column or a
  spreadsheet) is refused: a float keeps ~15 digits, so the ID is lost.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from household_monitoring.contracts import Column, Contract, RowRule

MONEY_TYPE = pa.decimal128(14, 2)
_NULL_STR = pa.scalar(None, pa.string())
_MONEY = r"^\d{1,12}(\.\d{1,2})?$"
#: GB 11643-1999 weights of the first 17 digits (2^(18-i) mod 11).
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_CHECK_CHARS = np.frombuffer(b"10X98765432", dtype=np.uint8)


class ColumnResult(NamedTuple):
    """One checked column: typed ``values``, ``problems`` (null where fine), and ``text`` (see the module)."""

    values: pa.Array
    problems: pa.Array
    text: pa.Array | None = None


def _blank_to_null(text: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(trimmed, ""), _NULL_STR, trimmed)


def _problem(mask: pa.Array, prefix: str, cells: pa.Array | None = None, suffix: str = "") -> pa.Array:
    """``prefix + repr(cell) + suffix`` where ``mask`` is true, else null."""
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():  # the usual case: build no strings
        return pa.nulls(len(mask), pa.string())
    if cells is None:
        message = pa.array([prefix + suffix] * len(mask), pa.string())
    else:
        message = pc.binary_join_element_wise(prefix + "'", cells, "'" + suffix, "")
    return pc.if_else(mask, message, _NULL_STR)


def merge_problems(*problems: pa.Array) -> pa.Array:
    """The first non-null problem of each row (checks of one column exclude each other)."""
    found = [p for p in problems if p.null_count < len(p)]
    if not found:
        return problems[0]
    return pc.coalesce(*found) if len(found) > 1 else found[0]


def check_money(name: str, raw: pa.Array) -> ColumnResult:
    if _plain_amounts(raw):  # the usual file: every cell well formed, nothing to trim or explain
        return ColumnResult(pc.cast(raw, MONEY_TYPE), pa.nulls(len(raw), pa.string()), raw)
    text = _blank_to_null(raw)
    ok = pc.match_substring_regex(text, _MONEY)
    bad = pc.fill_null(pc.invert(ok), False)
    if not pc.any(bad).as_py():  # the usual case: every amount is well formed
        return ColumnResult(pc.cast(text, MONEY_TYPE), pa.nulls(len(text), pa.string()))
    # Spellings a finance export produces and that say one amount unambiguously:
    # full-width digits (NFKC), a currency sign or 元, thousands separators in threes.
    # A full-width comma (U+FF0C) separates list items in Chinese text ('1，200.00' may be
    # two amounts): ambiguous, never normalised to a thousands separator.
    listed = pc.fill_null(pc.match_substring(text, "\uff0c"), False)
    cleaned = pc.utf8_trim_whitespace(
        pc.replace_substring_regex(pc.utf8_normalize(text, "NFKC"), r"^[¥￥]\s*|\s*元$", "")
    )
    grouped = pc.fill_null(pc.match_substring_regex(cleaned, r"^\d{1,3}(,\d{3})+(\.\d{1,2})?$"), False)
    cleaned = pc.if_else(grouped, pc.replace_substring(cleaned, ",", ""), cleaned)
    rescued = pc.and_(pc.fill_null(pc.match_substring_regex(cleaned, _MONEY), False), pc.invert(listed))
    text = pc.if_else(pc.and_(bad, rescued), cleaned, text)
    bad = pc.and_(bad, pc.invert(rescued))
    negative = pc.fill_null(pc.match_substring_regex(cleaned, r"^-\d"), False)
    problems = merge_problems(
        _problem(
            listed,
            f"{name}: a full-width comma (，) in an amount is ambiguous (it separates list items in Chinese text): ",
            raw,
        ),
        _problem(pc.and_(bad, negative), f"{name}: negative amount: ", raw),
        _problem(bad, f"{name}: not an amount in yuan: ", raw),
    )
    return ColumnResult(pc.cast(pc.if_else(bad, _NULL_STR, text), MONEY_TYPE), problems)


def check_integer(name: str, raw: pa.Array) -> ColumnResult:
    text = _blank_to_null(raw)
    ok = pc.fill_null(pc.match_substring_regex(text, r"^-?\d{1,18}$"), False)
    problems = _problem(pc.and_(pc.is_valid(text), pc.invert(ok)), f"{name}: not a whole number: ", raw)
    return ColumnResult(pc.cast(pc.if_else(ok, text, _NULL_STR), pa.int64()), problems)


def _format_regex(fmt: str) -> str:
    """strptime format (``%Y``, ``%m``, ``%d`` and literals) -> regex with groups y, m, d."""
    parts = {"%Y": r"(?P<y>\d{4})", "%m": r"(?P<m>\d{1,2})", "%d": r"(?P<d>\d{1,2})"}
    if fmt == "%Y%m%d":
        return r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"
    if fmt.startswith("%Y-%m-%d"):  # ISO 8601: two-digit month and day ('2022-05-2' may be a cut '2022-05-2x')
        parts = {**parts, "%m": r"(?P<m>\d{2})", "%d": r"(?P<d>\d{2})"}
    out, i = "^", 0
    while i < len(fmt):
        token = fmt[i : i + 2]
        if token in parts:
            out += parts[token]
            i += 2
        elif fmt[i] == "%":
            raise ValueError(f"date format {fmt!r}: only %Y, %m and %d are supported")
        else:
            out += re.escape(fmt[i])
            i += 1
    return out + "$"


def _ymd_to_dates(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Year, month, day integer arrays -> (datetime64[D] array, mask of real dates in 1900..2100)."""
    in_range = (y >= 1900) & (y <= 2100) & (m >= 1) & (m <= 12) & (d >= 1)
    months = np.where(in_range, (y - 1970) * 12 + (m - 1), 0).astype("datetime64[M]")
    first = months.astype("datetime64[D]")
    days_in_month = ((months + 1).astype("datetime64[D]") - first).astype(np.int64)
    real = in_range & (d <= days_in_month)
    return first + np.where(real, d - 1, 0).astype("timedelta64[D]"), real


def _components(struct: pa.Array, field: str) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.cast(pc.struct_field(struct, field), pa.int64()), 0), dtype=np.int64)


#: A numeric date with the year last (``15/03/2024``, ``3-4-2024``): day-first or month-first.
_DAY_MONTH = r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{4}$"


def check_date(name: str, raw: pa.Array, formats: tuple[str, ...], day_month_known: bool = False) -> ColumnResult:
    """Dates in ``formats`` (tried in order) -> ``date32``; problems name the cell.

    ``day_month_known``: the contract set a ``date_order``; otherwise a year-last numeric
    date is refused with ``day-month order unknown`` rather than read one way or the other.
    """
    if formats and formats[0] == "%Y-%m-%d":  # the usual file: every cell a real ISO date, read from its bytes
        plain = _plain_shape(raw, 10)
        if plain is not None:
            digits = plain.astype(np.int64) - ord("0")
            shaped = ((digits >= 0) & (digits <= 9))[:, [0, 1, 2, 3, 5, 6, 8, 9]].all() and (
                (plain[:, 4] == ord("-")).all() and (plain[:, 7] == ord("-")).all()
            )
            if shaped:
                y = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
                dates, real = _ymd_to_dates(y, digits[:, 5] * 10 + digits[:, 6], digits[:, 8] * 10 + digits[:, 9])
                if real.all():
                    return ColumnResult(pa.array(dates, pa.date32()), pa.nulls(len(raw), pa.string()), raw)
    # Extracts repeat few distinct dates: check each distinct text once.
    encoded = pc.dictionary_encode(raw)
    distinct = _check_distinct_dates(name, encoded.dictionary, formats, day_month_known)
    return ColumnResult(pc.take(distinct.values, encoded.indices), pc.take(distinct.problems, encoded.indices))


def _check_distinct_dates(
    name: str, raw: pa.Array, formats: tuple[str, ...], day_month_known: bool = False
) -> ColumnResult:
    text = _blank_to_null(raw)
    n = len(text)
    y = np.zeros(n, np.int64)
    m = np.zeros(n, np.int64)
    d = np.zeros(n, np.int64)
    matched = np.zeros(n, bool)
    for fmt in formats:
        parts = pc.extract_regex(text, _format_regex(fmt))
        hit = np.asarray(pc.fill_null(pc.is_valid(parts), False)) & ~matched
        if hit.any():
            y = np.where(hit, _components(parts, "y"), y)
            m = np.where(hit, _components(parts, "m"), m)
            d = np.where(hit, _components(parts, "d"), d)
            matched |= hit
    dates, real = _ymd_to_dates(y, m, d)
    present = np.asarray(pc.is_valid(text))
    values = pa.array(dates, pa.date32(), mask=~(matched & real))
    day_month = np.asarray(pc.fill_null(pc.match_substring_regex(text, _DAY_MONTH), False))
    unknown_order = present & ~matched & day_month & (not day_month_known)
    problems = merge_problems(
        _problem(
            pa.array(unknown_order),
            f"{name}: day-month order unknown (the contract sets no date_order, none is guessed): ",
            raw,
        ),
        _problem(pa.array(present & ~matched), f"{name}: not a date in {' or '.join(formats)}: ", raw),
        _problem(pa.array(present & matched & ~real), f"{name}: impossible date: ", raw),
    )
    return ColumnResult(values, problems)


@lru_cache(maxsize=8192)
def area_known(area_code: str, birth_year: int) -> bool:
    """Whether python-stdnum's division database knows ``area_code`` in ``birth_year`` (cached)."""
    probe = f"{area_code}{birth_year:04d}0101000"
    probe += ric.calc_check_digit(probe + "0")
    try:
        ric.get_birth_place(probe)
    except (ValidationError, KeyError):  # stdnum 2.2 raises KeyError for prefixes without a county entry
        return False
    return True


def _fixed_width_bytes(strings: pa.Array, width: int) -> np.ndarray:
    """An Arrow string array whose values all have ``width`` ASCII characters -> uint8 (n, width)."""
    offsets = np.frombuffer(strings.buffers()[1], np.int32)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(strings.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return data.reshape(-1, width)


def _string_bytes(strings: pa.Array) -> np.ndarray | None:
    """The bytes of the values of an Arrow ``string`` array as uint8 (nulls hold none); ``None`` for another type."""
    if strings.type != pa.string() or not len(strings):
        return None
    offsets = np.frombuffer(strings.buffers()[1], np.int32)[strings.offset : strings.offset + len(strings) + 1]
    if offsets[-1] == offsets[0]:
        return np.zeros(0, np.uint8)
    return np.frombuffer(strings.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]


def _plain_shape(strings: pa.Array, width: int) -> np.ndarray | None:
    """``strings`` as uint8 (n, ``width``) when every value is present and has ``width`` bytes, else ``None``."""
    if strings.type != pa.string() or strings.null_count or not len(strings):
        return None
    offsets = np.frombuffer(strings.buffers()[1], np.int32)[strings.offset : strings.offset + len(strings) + 1]
    if offsets[-1] - offsets[0] != width * len(strings) or (np.diff(offsets) != width).any():
        return None
    return _fixed_width_bytes(strings, width)


#: Byte classes for the money fast path: 1 for an ASCII digit, 2 for ``.``, 0 for anything else.
_MONEY_BYTES = np.zeros(256, np.uint8)
_MONEY_BYTES[ord("0") : ord("9") + 1] = 1
_MONEY_BYTES[ord(".")] = 2


def _plain_amounts(raw: pa.Array) -> bool:
    """Whether every cell is ``^\\d{1,12}(\\.\\d{1,2})?$`` (the usual file), checked on the bytes with NumPy.

    ~20x cheaper than the regex per cell; ``False`` (then the regex path decides) for any
    null, empty, spaced, signed or otherwise unusual cell.
    """
    if raw.type != pa.string() or raw.null_count or not len(raw):
        return False
    offsets = np.frombuffer(raw.buffers()[1], np.int32)[raw.offset : raw.offset + len(raw) + 1].astype(np.int64)
    lengths = np.diff(offsets)
    if lengths.min() < 1 or lengths.max() > 15:
        return False
    classes = _MONEY_BYTES[np.frombuffer(raw.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]]
    if not classes.all():  # a byte that is neither a digit nor a dot
        return False
    starts = offsets[:-1] - offsets[0]
    dot = classes == 2
    dots = np.add.reduceat(dot.astype(np.int64), starts)
    if dots.max() > 1:
        return False
    # Where the dot is: 1..12 digits before it, 1..2 after it; no dot: 1..12 digits.
    position = np.zeros(len(raw), np.int64)
    where = np.flatnonzero(dot)
    position[np.searchsorted(starts, where, side="right") - 1] = where
    before = position - starts
    with_dot = dots == 1
    ok = np.where(
        with_dot,
        (before >= 1) & (before <= 12) & (lengths - before - 1 >= 1) & (lengths - before - 1 <= 2),
        lengths <= 12,
    )
    return bool(ok.all())


#: An ID written as a number: ``6.53129E+17`` or ``653129201902207995.0``.
_ID_AS_NUMBER = r"^\d(\.\d+)?E\+?\d+$|^\d+\.0*$"


def convert_legacy_id(legacy: str) -> str:
    """A 15-digit resident ID (GB 11643-1989) -> its 18-digit form (GB 11643-1999).

    Area (6) + ``19`` + YYMMDD + sequence (3) + MOD 11-2 check character: every
    15-digit ID was issued to a person born in the 1900s (the 1999 standard replaced it).
    """
    base = legacy[:6] + "19" + legacy[6:]
    return base + ric.calc_check_digit(base + "0")


def check_resident_id(name: str, raw: pa.Array, legacy_15: str = "quarantine") -> ColumnResult:
    """Resident IDs -> canonical 18-character text (upper-case X) or a problem naming the rule.

    ``legacy_15``: ``convert`` or ``quarantine`` 15-digit IDs (the contract's choice).
    """
    plain = _plain_shape(raw, 18)
    if plain is not None:  # the usual file: every cell 17 digits and a digit or X, checked on the bytes
        digit = (plain >= ord("0")) & (plain <= ord("9"))
        shaped = digit[:, :17].all(axis=1) & (digit[:, 17] | (plain[:, 17] == ord("X")))
        if not shaped.all():  # anything else (a space, x, a letter): the general path words the problem
            plain = None
    if plain is not None:
        text = raw
    else:
        text = pc.utf8_upper(_blank_to_null(raw))
        shaped = np.asarray(pc.fill_null(pc.match_substring_regex(text, r"^\d{17}[\dX]$"), False))
    n = len(text)
    legacy_mask = np.zeros(n, bool)
    number_mask = np.zeros(n, bool)
    odd = np.flatnonzero(~shaped & np.asarray(pc.is_valid(text)))
    if odd.size:  # only the few IDs that are not 18 characters are looked at again
        odd_text = pc.take(text, pa.array(odd))
        legacy_mask[odd] = np.asarray(pc.fill_null(pc.match_substring_regex(odd_text, r"^\d{15}$"), False))
        number_mask[odd] = np.asarray(pc.fill_null(pc.match_substring_regex(odd_text, _ID_AS_NUMBER), False))
        if legacy_mask.any() and legacy_15 == "convert":
            values = text.to_pylist()
            for i in np.flatnonzero(legacy_mask):
                values[i] = convert_legacy_id(values[i])
            text = pa.array(values, pa.string())
            shaped = np.asarray(pc.fill_null(pc.match_substring_regex(text, r"^\d{17}[\dX]$"), False))
            legacy_mask[:] = False
    legacy_problem = _problem(
        pa.array(legacy_mask),
        f"{name}: 15-digit resident ID (before 1999); the contract does not convert them (legacy_15)",
    )
    number_problem = _problem(
        pa.array(number_mask),
        f"{name}: resident ID written as a number (a float keeps ~15 digits, the ID is lost): ",
        raw,
    )
    lengths = pc.utf8_length(text)
    n = len(text)
    checksum_ok = np.zeros(n, bool)
    date_ok = np.zeros(n, bool)
    area_ok = np.zeros(n, bool)
    idx = np.flatnonzero(shaped)
    if idx.size:
        ids = pc.take(text, pa.array(idx))
        digits = _fixed_width_bytes(ids, 18)
        expected = _CHECK_CHARS[(digits[:, :17].astype(np.int64) - 48) @ _ID_WEIGHTS % 11]
        checksum_ok[idx] = digits[:, 17] == expected
        num = (digits[:, 6:14].astype(np.int64) - 48) @ (10 ** np.arange(7, -1, -1))
        yy, mm, dd = num // 10000, num // 100 % 100, num % 100
        born, real = _ymd_to_dates(yy, mm, dd)
        # a birth date after today is as impossible as 30 February (no one is registered before birth)
        date_ok[idx] = real & (born <= np.datetime64(date.today(), "D"))
        areas = (digits[:, :6].astype(np.int64) - 48) @ (10 ** np.arange(5, -1, -1))
        pairs = areas * 10000 + yy
        unique, inverse = np.unique(pairs, return_inverse=True)
        known = np.array([area_known(f"{p // 10000:06d}", int(p % 10000)) for p in unique], dtype=bool)
        area_ok[idx] = known[inverse]
    present = np.asarray(pc.is_valid(text))
    bad_length = pc.and_(pc.is_valid(text), pc.not_equal(lengths, 18))
    problems = merge_problems(
        number_problem,
        legacy_problem,
        pc.if_else(
            pc.fill_null(bad_length, False),
            pc.binary_join_element_wise(
                f"{name}: resident ID must have 18 characters, has ", pc.cast(lengths, pa.string()), ""
            ),
            _NULL_STR,
        ),
        _problem(pa.array(present & ~shaped), f"{name}: resident ID has characters other than digits and a final X"),
        _problem(pa.array(shaped & ~checksum_ok), f"{name}: resident ID check digit (MOD 11-2) is wrong"),
        _problem(pa.array(shaped & checksum_ok & ~date_ok), f"{name}: resident ID holds an impossible birth date"),
        _problem(
            pa.array(shaped & checksum_ok & date_ok & ~area_ok),
            f"{name}: resident ID area code is unknown to GB/T 2260 in the birth year",
        ),
    )
    good = shaped & checksum_ok & date_ok & area_ok
    return ColumnResult(pc.if_else(pa.array(good), text, _NULL_STR), problems)


def check_code(column: Column, raw: pa.Array) -> ColumnResult:
    spellings, canonical = [], []
    for value, aliases in column.values.items():
        for spelling in (value, *aliases):
            key = spelling.strip().lower()
            if key not in spellings:
                spellings.append(key)
                canonical.append(value)
    text = _blank_to_null(raw)
    index = pc.index_in(pc.utf8_lower(text), value_set=pa.array(spellings, pa.string()))
    values = pc.take(pa.array(canonical, pa.string()), index)
    problems = _problem(
        pc.and_(pc.is_valid(text), pc.is_null(index)),
        f"{column.name}: unknown code ",
        raw,
        f" (allowed: {', '.join(column.values)})",
    )
    return ColumnResult(values, problems)


def check_text(column: Column, raw: pa.Array) -> ColumnResult:
    text = _blank_to_null(raw)
    if not column.pattern:
        return ColumnResult(text, pa.nulls(len(text), pa.string()))
    ok = pc.match_substring_regex(text, column.pattern)
    problems = _problem(pc.invert(ok), f"{column.name}: does not match {column.pattern}: ", raw)
    return ColumnResult(pc.if_else(pc.fill_null(ok, False), text, _NULL_STR), problems)


def check_column(column: Column, contract: Contract, raw: pa.Array) -> ColumnResult:
    """Check one column of a block against its contract column (a NUL character fails any type)."""
    result = _check_column(column, contract, raw)
    if result.text is not None:  # plain amounts or ISO dates: digits and separators only
        return result
    nul = contains_nul(column.name, raw)
    if nul.null_count == len(nul):
        return result
    return ColumnResult(
        pc.if_else(pc.is_valid(nul), pa.scalar(None, result.values.type), result.values),
        merge_problems(nul, result.problems),
    )


def _check_column(column: Column, contract: Contract, raw: pa.Array) -> ColumnResult:
    if column.type == "money":
        return check_money(column.name, raw)
    if column.type == "integer":
        return check_integer(column.name, raw)
    if column.type == "date":
        return check_date(column.name, raw, contract.all_date_formats, contract.date_order != "YMD")
    if column.type == "resident_id":
        return check_resident_id(column.name, raw, column.legacy_15)
    if column.type == "code":
        return check_code(column, raw)
    return check_text(column, raw)


def _as_text(values: pa.Array) -> pa.Array:
    return pc.cast(values, pa.string())


def check_row_rule(rule: RowRule, values: dict[str, pa.Array]) -> pa.Array:
    """Problems of one cross-field rule (null where the rule holds or a value is missing)."""
    target = values[rule.column]
    operands = [values[o] for o in rule.operands]
    if rule.kind == "difference":
        expected = operands[0]
        for sub in operands[1:]:
            expected = pc.subtract(expected, sub)
        expected = pc.cast(expected, MONEY_TYPE)
        broken = pc.fill_null(pc.not_equal(target, expected), False)
        if not pc.any(broken).as_py():
            return pa.nulls(len(target), pa.string())
        message = pc.binary_join_element_wise(
            f"{rule.column}: ",
            _as_text(target),
            f" is not {' - '.join(rule.operands)} = ",
            _as_text(expected),
            f" (rule {rule.name})",
            "",
        )
    elif rule.kind == "not_before":
        broken = pc.fill_null(pc.less(target, operands[0]), False)
        if not pc.any(broken).as_py():
            return pa.nulls(len(target), pa.string())
        message = pc.binary_join_element_wise(
            f"{rule.column}: ",
            _as_text(target),
            f" is before {rule.operands[0]} ",
            _as_text(operands[0]),
            f" (rule {rule.name})",
            "",
        )
    else:  # pragma: no cover - contracts.py refuses other kinds
        raise ValueError(rule.kind)
    return pc.if_else(broken, message, _NULL_STR)


def check_not_after(name: str, values: pa.Array, limit) -> pa.Array:
    """Problems for dates after ``limit`` (the extract's logical date): a visit or a discharge
    cannot be reported before it happens."""
    late = pc.fill_null(pc.greater(values, pa.scalar(limit, pa.date32())), False)
    if not pc.any(late).as_py():
        return pa.nulls(len(values), pa.string())
    message = pc.binary_join_element_wise(
        f"{name}: ", pc.cast(values, pa.string()), f" is after the extract's date {limit.isoformat()}", ""
    )
    return pc.if_else(late, message, _NULL_STR)


def contains_nul(name: str, raw: pa.Array) -> pa.Array:
    """Problems for cells holding a NUL character, which PostgreSQL text cannot store.

    The column's bytes are searched once (NumPy, ~20x faster than a substring search per
    cell); only a column holding a NUL is looked at cell by cell.
    """
    data = _string_bytes(raw)
    if data is not None and not (data == 0).any():
        return pa.nulls(len(raw), pa.string())
    hit = pc.fill_null(pc.match_substring(raw, "\x00"), False)
    if not pc.any(hit).as_py():
        return pa.nulls(len(raw), pa.string())
    return pc.if_else(hit, f"{name}: contains a NUL character (byte 0x00)", _NULL_STR)
