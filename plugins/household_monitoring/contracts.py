"""Data contracts: one YAML file per departmental extract, in ``expectations/contracts``.

A contract is the single place where an extract's columns are listed. The reader
(header aliases, encodings), the loader (types, row rules, quarantine), the raw
and quarantine tables (DDL), the Great Expectations suite and the dbt source all
follow from it; nothing else lists the same columns again.

Column types:

``text``         free text, stripped; optional ``pattern`` (a regular expression).
``resident_id``  18-digit resident identity number, checked with python-stdnum
                 (GB 11643-1999: MOD 11-2 check digit, real birth date, known
                 area code); stored as text, upper-case ``X``.
``date``         a calendar date in one of the contract's ``date_formats``.
``money``        yuan with at most two decimals, stored as ``numeric(14,2)``.
``integer``      a whole number.
``code``         one of ``values`` (canonical value -> list of accepted spellings).

Options for departmental exports (each a rule of the contract, never a guess per row):

``legacy_15``    on a ``resident_id`` column: ``convert`` turns a 15-digit ID (issued
                 before 1999: area, YYMMDD, sequence) into its 18-digit form by
                 GB 11643-1999 (insert the century ``19``, append the MOD 11-2 check
                 character); ``quarantine`` (the default) refuses it.
``width``        on a ``text`` column of digits: the code's fixed width. A number cell
                 of an .xlsx file (Excel drops leading zeros) is padded with zeros to
                 it, and the ledger's message says which rows were padded; in a CSV
                 file a shorter value is refused by the ``pattern`` (``width`` digits
                 unless the contract gives one).

Every code-like ``text`` column (a name ending in ``_id`` or ``_code``: household
numbers, village codes, record numbers) declares its format (``pattern``, or
``width``): a code typed as a number (``123`` for ``000123``, ``1.2E+15``) is then
quarantined, never loaded (issue 12; checked for every contract by the tests).
``date_order``   ``YMD`` (default), ``DMY`` or ``MDY``: the order of the numeric
                 day-month formats the source writes (``15/03/2024``). With ``YMD``
                 such values are refused: day and month are never guessed per row.
``sheets``       of an .xlsx source: ``first`` (default), ``all``, or a list of sheet
                 names; rows keep their sheet in ``_sheet``.

``not_after_extract_date: true`` on a date column quarantines dates after the
extract's logical date (a visit, discharge or payment reported before it happened).
A contract with ``full_extract: true`` sends its whole population each time; the
quality gate then blocks a batch whose volume drops by more than ``max_volume_drop``
(default 0.10) from the previous published extract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from household_monitoring.config import CONTRACTS_DIR

#: PostgreSQL type of each contract column type. Money is numeric, IDs are text.
SQL_TYPES = {
    "text": "text",
    "resident_id": "text",
    "date": "date",
    "money": "numeric(14,2)",
    "integer": "bigint",
    "code": "text",
}

#: Date formats accepted when a contract names none (strptime syntax). Day-first
#: or month-first formats such as ``%d/%m/%Y`` must be chosen per contract.
DEFAULT_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%Y.%m.%d",
    "%Y年%m月%d日",
    "%Y-%m-%d 00:00:00",  # a date exported from a datetime column
    "%Y/%m/%d 0:00:00",
)

#: Load metadata columns of every raw table. The file's name, hash and load time
#: are in the ledger row of the batch (``audit.load_batches``), one row per file:
#: repeating them on each raw row made COPY ~70 % slower (measured, 1M rows).
RAW_METADATA_COLUMNS = (
    ("_batch_id", "bigint not null"),
    ("_logical_date", "date not null"),
    ("_row_number", "integer not null"),
)
#: Metadata columns that are only written when a file has them (no COPY cost otherwise):
#: the worksheet of a row of an .xlsx file, and the values of the file's extra columns.
RAW_OPTIONAL_COLUMNS = (
    ("_sheet", "text"),
    ("_extra", "jsonb"),
)
#: Numeric day-month formats by ``date_order`` (the contract's choice, never a guess per row).
DATE_ORDER_FORMATS = {
    "YMD": (),
    "DMY": ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"),
    "MDY": ("%m/%d/%Y", "%m-%d-%Y", "%m.%d.%Y"),
}

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


class ContractError(ValueError):
    """A contract file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Column:
    """One column of an extract, as the contract declares it."""

    name: str
    type: str
    aliases: tuple[str, ...]
    required: bool = False
    pii: bool = False
    description: str = ""
    pattern: str | None = None
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    not_after_extract_date: bool = False
    legacy_15: str = "quarantine"
    width: int | None = None

    @property
    def sql_type(self) -> str:
        """The PostgreSQL type of the column in ``raw.<source>``."""
        return SQL_TYPES[self.type]


@dataclass(frozen=True)
class RowRule:
    """A cross-field rule checked on every row.

    ``kind`` is ``difference`` (``column = minuend - sum(subtrahends)``, to the fen)
    or ``not_before`` (``column >= reference`` for dates).
    """

    name: str
    kind: str
    column: str
    operands: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Contract:
    """The contract of one source's extract.

    Raises ``ContractError`` (from :func:`load_contract`) when the YAML lacks a
    field or names a column that does not exist.
    """

    source: str
    department: str
    description: str
    grain: str
    file_pattern: str
    encodings: tuple[str, ...]
    keys: tuple[str, ...]
    columns: tuple[Column, ...]
    row_rules: tuple[RowRule, ...] = ()
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    freshness_warn_days: int = 2
    freshness_error_days: int = 7
    full_extract: bool = False
    max_volume_drop: float = 0.10
    date_order: str = "YMD"
    sheets: tuple[str, ...] | str = "first"
    path: Path | None = None

    @property
    def all_date_formats(self) -> tuple[str, ...]:
        """The contract's date formats plus the day-month ones of its ``date_order``."""
        return self.date_formats + DATE_ORDER_FORMATS[self.date_order]

    @property
    def raw_table(self) -> str:
        return f"raw.{self.source}"

    @property
    def quarantine_table(self) -> str:
        return f"quarantine.{self.source}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def raw_ddl(self) -> list[str]:
        """DDL statements creating ``raw.<source>`` (idempotent).

        A column added to the contract later is added to an existing table too
        (``add column if not exists``); rows loaded before hold null in it.
        """
        cols = [f"{c.name} {c.sql_type}" for c in self.columns]
        cols += [f"{name} {typ}" for name, typ in RAW_METADATA_COLUMNS]
        return [
            f"create table if not exists {self.raw_table} (\n  " + ",\n  ".join(cols) + "\n)",
            *(_add_column(self.raw_table, c.name, c.sql_type) for c in self.columns),
            *(_add_column(self.raw_table, n, t) for n, t in RAW_OPTIONAL_COLUMNS),
            f"create index if not exists {self.source}_batch_idx on {self.raw_table} using brin (_batch_id)",
        ]

    def quarantine_ddl(self) -> list[str]:
        """DDL statements creating ``quarantine.<source>`` (idempotent).

        A quarantined row keeps its original text (``raw_record``: header -> value
        as read) and its reasons (``column: problem``); its file is in the ledger.
        """
        return [
            f"""create table if not exists {self.quarantine_table} (
  _batch_id bigint not null,
  _logical_date date not null,
  _row_number integer not null,
  raw_record jsonb not null,
  reasons text[] not null
)""",
            _add_column(self.quarantine_table, "_sheet", "text"),
            f"create index if not exists {self.source}_q_batch_idx on {self.quarantine_table} (_batch_id)",
        ]


def _add_column(table: str, column: str, sql_type: str) -> str:
    """DDL adding a column to a table created before it existed; takes no lock when it is there."""
    schema, name = table.split(".")
    return f"""do $$ begin
  if not exists (select 1 from information_schema.columns
                 where table_schema = '{schema}' and table_name = '{name}' and column_name = '{column}') then
    alter table {table} add column {column} {sql_type};
  end if;
end $$"""


def _column(path: Path, spec: dict) -> Column:
    try:
        name, typ = spec["name"], spec["type"]
    except KeyError as exc:
        raise ContractError(f"{path}: a column lacks {exc.args[0]!r}: {spec}") from None
    if not _IDENTIFIER.match(name):
        raise ContractError(f"{path}: column name {name!r} is not a lower-case identifier")
    if typ not in SQL_TYPES:
        raise ContractError(f"{path}: column {name!r} has unknown type {typ!r}; known: {sorted(SQL_TYPES)}")
    values = {str(k): tuple(str(v) for v in vs) for k, vs in (spec.get("values") or {}).items()}
    if typ == "code" and not values:
        raise ContractError(f"{path}: code column {name!r} needs 'values'")
    aliases = tuple(str(a) for a in spec.get("aliases") or ()) or (name,)
    legacy = str(spec.get("legacy_15", "quarantine"))
    if legacy not in ("convert", "quarantine"):
        raise ContractError(f"{path}: column {name!r}: legacy_15 must be convert or quarantine, not {legacy!r}")
    return Column(
        name=name,
        type=typ,
        aliases=aliases,
        required=bool(spec.get("required", False)),
        pii=bool(spec.get("pii", False)),
        description=str(spec.get("description", "")).strip(),
        pattern=spec.get("pattern") or (rf"^\d{{{int(spec['width'])}}}$" if spec.get("width") else None),
        values=values,
        not_after_extract_date=bool(spec.get("not_after_extract_date", False)),
        legacy_15=legacy,
        width=int(spec["width"]) if spec.get("width") is not None else None,
    )


def _row_rule(path: Path, spec: dict, names: set[str]) -> RowRule:
    name = spec.get("name")
    # The gate names a column after the rule (``_rule_<name>``, quality.row_rule_column): a
    # lower-case SQL identifier within PostgreSQL's 63 characters.
    if not isinstance(name, str) or not _IDENTIFIER.match(name) or len(name) > 57:
        raise ContractError(
            f"{path}: row rule name {name!r} must be lower-case letters, digits and _, starting with a letter"
            " (at most 57 characters)"
        )
    if "difference" in spec:
        d = spec["difference"]
        rule = RowRule(name, "difference", d["column"], (d["minuend"], *d["subtrahends"]), spec.get("description", ""))
    elif "not_before" in spec:
        d = spec["not_before"]
        rule = RowRule(name, "not_before", d["column"], (d["reference"],), spec.get("description", ""))
    else:
        raise ContractError(f"{path}: row rule {name!r} has no known kind (difference, not_before)")
    unknown = {rule.column, *rule.operands} - names
    if unknown:
        raise ContractError(f"{path}: row rule {name!r} names unknown columns {sorted(unknown)}")
    return rule


def load_contract(path: Path) -> Contract:
    """Read and check one contract file.

    Raises ``ContractError`` naming the file and the faulty field.
    """
    spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    try:
        columns = tuple(_column(path, c) for c in spec["columns"])
        names = {c.name for c in columns}
        keys = tuple(spec["keys"])
        if set(keys) - names:
            raise ContractError(f"{path}: keys {sorted(set(keys) - names)} are not columns")
        freshness = spec.get("freshness") or {}
        date_order = str(spec.get("date_order", "YMD")).upper()
        if date_order not in DATE_ORDER_FORMATS:
            raise ContractError(f"{path}: date_order must be one of {sorted(DATE_ORDER_FORMATS)}, not {date_order!r}")
        sheets = spec.get("sheets", "first")
        sheets = tuple(str(s) for s in sheets) if isinstance(sheets, list) else str(sheets)
        if isinstance(sheets, str) and sheets not in ("first", "all"):
            raise ContractError(f"{path}: sheets must be first, all or a list of sheet names, not {sheets!r}")
        row_rules = tuple(_row_rule(path, r, names) for r in spec.get("row_rules") or ())
        repeated = sorted({r.name for r in row_rules if [q.name for q in row_rules].count(r.name) > 1})
        if repeated:
            raise ContractError(f"{path}: row rule names {repeated} are used twice (each names a gate column)")
        missing_keys = [k for k in keys if not next(c for c in columns if c.name == k).required]
        if missing_keys:
            raise ContractError(f"{path}: key columns {missing_keys} must be required (a NULL key is quarantined)")
        return Contract(
            source=spec["source"],
            department=spec.get("department", ""),
            description=" ".join(str(spec.get("description", "")).split()),
            grain=spec.get("grain", ""),
            file_pattern=spec.get("file_pattern", "*.csv"),
            encodings=tuple(spec.get("encodings") or ("utf-8",)),
            keys=keys,
            columns=columns,
            row_rules=row_rules,
            date_formats=tuple(spec.get("date_formats") or DEFAULT_DATE_FORMATS),
            freshness_warn_days=int(freshness.get("warn_after_days", 2)),
            freshness_error_days=int(freshness.get("error_after_days", 7)),
            full_extract=bool(spec.get("full_extract", False)),
            max_volume_drop=float(spec.get("max_volume_drop", 0.10)),
            date_order=date_order,
            sheets=sheets,
            path=Path(path),
        )
    except KeyError as exc:
        raise ContractError(f"{path}: missing field {exc.args[0]!r}") from None


@cache
def load_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    """All contracts of a directory, by source name, in file-name order."""
    contracts = {}
    for path in sorted(Path(directory).glob("*.yml")):
        contract = load_contract(path)
        if contract.source != path.stem:
            raise ContractError(f"{path}: source {contract.source!r} must match the file name")
        contracts[contract.source] = contract
    return contracts


def source_names(directory: Path = CONTRACTS_DIR) -> list[str]:
    """Names of the sources that have a contract, without parsing YAML (safe at DAG parse time)."""
    return sorted(p.stem for p in Path(directory).glob("*.yml"))
