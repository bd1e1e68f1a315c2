"""Loader: one extract file -> one batch in ``raw.<source>`` / ``quarantine.<source>``.

Every record of the file ends in exactly one place: loaded into the raw table with
its load metadata, or quarantined with its original text and its reasons. The
batch is one transaction, recorded in the ledger ``audit.load_batches``
(rows read = loaded + quarantined). Loading again the same file name for the same
source and logical date supersedes the earlier batch: its rows are deleted and its
ledger row is kept with status ``superseded``, so a re-run never duplicates.

Records stream from the file in blocks (Arrow's CSV reader, ~1 MiB each), are
checked column-wise (``fields``) and the good ones go to PostgreSQL ``COPY`` as
CSV; psycopg sends from a worker thread, so checking in Python overlaps with the
server's parsing, and memory does not grow with the file. Quarantined records
are spooled to a temporary file (in memory up to 8 MiB) and copied after the
raw rows.

A file that is unusable as a whole (empty, undecodable, a required column missing
from the header) is *rejected*: no row of it is loaded, and every record that can
be read is quarantined with the batch's reason.

Columns a file has beyond its contract are kept per row in ``raw.<source>._extra``
(jsonb) and the worksheet of an .xlsx row in ``_sheet``; both are only written when
the file has them. A key that repeats within one file is resolved after the COPY
(``_quarantine_duplicate_keys``): an identical copy is quarantined, conflicting
versions all are. Repeats are found from 64-bit key fingerprints spooled to disk by
partition (``_RepeatedKeys``), so memory stays flat in the file's size.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from household_monitoring.contracts import RAW_METADATA_COLUMNS, Contract
from household_monitoring.fields import MONEY_TYPE, check_column, check_not_after, check_row_rule
from household_monitoring.readers import (
    BatchRejected,
    Block,
    Extract,
    ReadAgainCarefully,
    guess_encoding,
    label_at,
    open_extract,
    record_labels,
    workbook_in_disguise,
    xlsx_records,
)

log = logging.getLogger(__name__)

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# jemalloc returns freed blocks to the system sooner than Arrow's default (mimalloc):
# measured peak RSS for 1M settlements 193 MB instead of 232 MB, same speed.
if "jemalloc" in pa.supported_memory_backends():
    pa.set_memory_pool(pa.jemalloc_memory_pool())

_ARROW_TYPES = {
    "text": pa.string(),
    "resident_id": pa.string(),
    "code": pa.string(),
    "money": MONEY_TYPE,
    "date": pa.date32(),
    "integer": pa.int64(),
}
_QUARANTINE_SPOOL_BYTES = 8 * 1024 * 1024


@dataclass
class BatchResult:
    """What loading one file did. Amounts are row counts; seconds are wall time."""

    batch_id: int
    source: str
    logical_date: date
    file_name: str
    file_hash: str
    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    message: str | None = None
    extra_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0


def file_sha256(path: Path) -> tuple[str, int]:
    """``(hex sha256, size in bytes)`` of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _json_text(value) -> str:
    """JSON text PostgreSQL accepts: a NUL character (which jsonb and text refuse) is kept as ``\\x00``."""
    return json.dumps(value, ensure_ascii=False).replace("\\u0000", "\\\\x00")


def _array_element(value: str) -> str:
    """One quoted element of a PostgreSQL text[] literal (backslash and quote escaped; a NUL as ``\\x00``)."""
    return '"' + value.replace("\x00", "\\x00").replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pg_text(value: str | None) -> str | None:
    """Text PostgreSQL accepts, for the ledger's header and message: a NUL kept as ``\\x00``, as in quarantine."""
    return None if value is None else value.replace("\x00", "\\x00")


def _copy_field(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


class _BlockChecker:
    """Checks blocks of records against the contract, column-wise (see ``fields``)."""

    def __init__(
        self,
        contract: Contract,
        positions: list[str | None],
        batch_id: int,
        logical_date: date,
        labels: list[str] | None = None,
        with_sheet: bool = False,
    ):
        self.contract = contract
        self.labels = labels or []
        self.extra_positions = [pos for pos, name in enumerate(positions) if name is None]
        self.with_sheet = with_sheet
        self.batch_id = pa.scalar(str(batch_id))
        self.logical_date = pa.scalar(logical_date.isoformat())
        self.logical_date_value = logical_date
        self.position_of = {name: pos for pos, name in enumerate(positions) if name is not None}

    def check(self, block: Block) -> tuple[pa.Table, np.ndarray, list[list[str]], pa.Array]:
        """``(good rows as COPY sends them, bad row indexes, reasons of each bad row, keys of the good rows)``.

        The good rows are an Arrow table in the raw table's column order: typed values, or the
        cells themselves where they are already in PostgreSQL's input form (``ColumnResult.text``),
        the batch id and logical date as text. The keys (``_key_text``) come from the typed
        values, so ``100.5`` and ``100.50`` are one key, as in the raw table.
        """
        n = len(block)
        values: dict[str, pa.Array] = {}
        sent: dict[str, pa.Array] = {}  # what COPY gets: the cells themselves where already canonical
        problems: list[pa.Array] = []
        for column in self.contract.columns:
            pos = self.position_of.get(column.name)
            if pos is None:  # optional column absent from this file
                values[column.name] = pa.nulls(n, pa.string()).cast(_ARROW_TYPES[column.type])
                if column.required:  # pragma: no cover - map_header rejects the batch first
                    raise AssertionError(column.name)
                continue
            result = check_column(column, self.contract, block.columns[pos])
            values[column.name] = result.values
            if result.text is not None:
                sent[column.name] = result.text
            problems.append(result.problems)
            if column.not_after_extract_date:
                problems.append(check_not_after(column.name, result.values, self.logical_date_value))
            if column.required and result.values.null_count:
                empty = pc.and_(pc.is_null(result.values), pc.is_null(result.problems))
                problems.append(pc.if_else(empty, f"{column.name}: required value is empty", None))
        for rule in self.contract.row_rules:
            problems.append(check_row_rule(rule, values))
        problems = [p for p in problems if p.null_count < len(p)]
        problem_matrix = [np.asarray(pc.is_valid(p)) for p in problems]
        any_problem = np.logical_or.reduce(problem_matrix) if problem_matrix else np.zeros(n, bool)
        bad = np.flatnonzero(any_problem)
        reasons: list[list[str]] = []
        if bad.size:
            taken = [pc.take(p, pa.array(bad)).to_pylist() for p in problems]
            reasons = [[col[i] for col in taken if col[i] is not None] for i in range(bad.size)]
        columns = [sent.get(c.name, values[c.name]) for c in self.contract.columns]
        row_numbers = pa.array(block.row_numbers, pa.int64())
        if bad.size:
            good = pa.array(~any_problem)
            columns = [pc.filter(col, good) for col in columns]
            row_numbers = pc.filter(row_numbers, good)
        kept = len(columns[0])
        columns.append(pa.repeat(self.batch_id, kept))  # as text: written as is, not formatted per row
        columns.append(pa.repeat(self.logical_date, kept))
        columns.append(row_numbers)
        names = self.contract.column_names + [name for name, _ in RAW_METADATA_COLUMNS]
        # Optional metadata only when the file has it: a plain CSV pays nothing for it.
        keep = pa.array(~any_problem) if bad.size else None
        if self.with_sheet:
            columns.append(block.sheets if keep is None else pc.filter(block.sheets, keep))
            names.append("_sheet")
        if self.extra_positions:
            columns.append(self._extra_json(block, keep))
            names.append("_extra")
        table = pa.Table.from_arrays(columns, names=names)
        keys = _key_text({k: values[k] if keep is None else pc.filter(values[k], keep) for k in self.contract.keys})
        return table, bad, reasons, keys

    def _extra_json(self, block: Block, keep: pa.Array | None) -> pa.Array:
        """The file's extra columns of each kept row as JSON text ``{label: value}`` (``_extra``; ``record_labels``).

        Built with Arrow string kernels (escape, then join): ~10x faster than ``json.dumps``
        per row. A block with a rare control character takes the per-row path.
        """
        cells = [block.columns[pos] for pos in self.extra_positions]
        cells = cells if keep is None else [pc.filter(c, keep) for c in cells]
        names = [label_at(self.labels, pos) for pos in self.extra_positions]
        if any(pc.any(pc.match_substring_regex(c, _RARE_CONTROL)).as_py() for c in cells):
            lists = [c.to_pylist() for c in cells]
            return pa.array(
                [_json_text(dict(zip(names, row, strict=True))) for row in zip(*lists, strict=True)], pa.string()
            )
        parts: list = []
        for i, (name, cell) in enumerate(zip(names, cells, strict=True)):
            for raw, escaped in _JSON_ESCAPES:
                cell = pc.replace_substring(cell, raw, escaped)
            parts += [("{" if i == 0 else ", ") + _json_text(name) + ': "', cell, '"']
        parts[-1] += "}"
        # binary_join_element_wise takes arrays and scalars; the last argument is the separator.
        return pc.binary_join_element_wise(*parts, "")


#: JSON escapes of the characters a cell may hold (backslash first); NUL as the quarantine keeps it.
_JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\x00", "\\\\x00"))
_RARE_CONTROL = "[\x01-\x08\x0b\x0c\x0e-\x1f]"


class _QuarantineSpool:
    """Quarantined records as COPY text, spooled until the raw COPY is done."""

    def __init__(self, header: list[str], batch_id: int, logical_date: date):
        self.labels = record_labels(header)  # the keys of each record's JSON
        self.prefix = f"{batch_id}\t{logical_date.isoformat()}\t"
        self.count = 0
        self.file = tempfile.SpooledTemporaryFile(max_size=_QUARANTINE_SPOOL_BYTES, mode="w+b")  # noqa: SIM115

    def add(self, row_number: int, fields: list[str] | dict, reasons: list[str], sheet: str | None = None) -> None:
        """Spool one record: its fields in header order (or a ready ``{label: value}`` mapping)."""
        record = fields if isinstance(fields, dict) else {label_at(self.labels, i): v for i, v in enumerate(fields)}
        array = "{" + ",".join(_array_element(r) for r in reasons) + "}"
        line = (
            f"{self.prefix}{row_number}\t{_copy_field(_json_text(record))}\t{_copy_field(array)}"
            f"\t{_copy_field(sheet)}\n"
        )
        self.file.write(line.encode("utf-8"))
        self.count += 1

    def copy_into(self, cur: psycopg.Cursor, table: str) -> None:
        """COPY the spool into the quarantine table."""
        self.file.seek(0)
        columns = "_batch_id, _logical_date, _row_number, raw_record, reasons, _sheet"
        with cur.copy(f"copy {table} ({columns}) from stdin") as copy:
            while block := self.file.read(1 << 20):
                copy.write(block)

    def close(self) -> None:
        self.file.close()


def _stream_batch(
    cur, contract: Contract, extract: Extract, spool: _QuarantineSpool, batch_id: int, logical_date: date
) -> tuple[int, int]:
    """COPY the good records of ``extract`` into raw, spool the bad ones; return (read, loaded).

    Then a key that occurs more than once among the loaded rows of the file is resolved
    (see ``_quarantine_duplicate_keys``).
    """
    checker = _BlockChecker(contract, extract.positions, batch_id, logical_date, extract.labels, extract.with_sheet)
    names = contract.column_names + [name for name, _ in RAW_METADATA_COLUMNS]
    if extract.with_sheet:
        names.append("_sheet")
    if extract.extra_columns:
        names.append("_extra")
    read = loaded = 0
    options = pacsv.WriteOptions(include_header=False)
    # psycopg's default writer sends from a worker thread: the server parses one block while
    # Python checks the next (Arrow compute releases the GIL). ``repeats`` spools each loaded
    # row's key fingerprint to disk, to find keys that repeat in the file.
    copy_sql = f"copy {contract.raw_table} ({', '.join(names)}) from stdin (format csv)"
    with _RepeatedKeys() as repeats:
        with cur.copy(copy_sql) as copy:
            for block, bad_records in extract.blocks():
                read += len(block) + len(bad_records)
                for bad in bad_records:
                    spool.add(bad.row_number, bad.fields, [bad.reason], bad.sheet)
                if not len(block):
                    continue
                table, bad_rows, reasons, keys = checker.check(block)
                if bad_rows.size:
                    originals = [pc.take(col, pa.array(bad_rows)).to_pylist() for col in block.columns]
                    sheets = pc.take(block.sheets, pa.array(bad_rows)).to_pylist() if extract.with_sheet else None
                    for j, i in enumerate(bad_rows):
                        sheet = sheets[j] if sheets else None
                        spool.add(int(block.row_numbers[i]), [col[j] for col in originals], reasons[j], sheet)
                if table.num_rows:
                    repeats.add(key_fingerprints(keys), table.column("_row_number").to_numpy())
                    sink = pa.BufferOutputStream()
                    pacsv.write_csv(table, sink, options)
                    copy.write(memoryview(sink.getvalue()))
                    loaded += table.num_rows
        candidates = repeats.candidates()
    if candidates:  # rare: only then does SQL look at the rows
        loaded -= _quarantine_duplicate_keys(cur, contract, extract, spool, batch_id, candidates)
    return read, loaded


class _RepeatedKeys:
    """Row numbers whose key fingerprint occurs more than once in a file, in memory that does not grow with it.

    Each block's ``(fingerprint, row number)`` pairs (16 bytes a row) are appended to one of
    ``PARTITIONS`` temporary files by the fingerprint's top bits; :meth:`candidates` then
    sorts one partition at a time, so the process holds 1/64 of them at once (250 KB for
    1M rows) instead of all of them and their sort (~40 MB per 1M rows, issue 10). The
    files live in the page cache, not in the process; about 30 ms per 1M rows.
    Use as a context manager: the files are closed on exit.
    """

    PARTITIONS = 64
    _PAIR = np.dtype([("fingerprint", "<u8"), ("row", "<i8")])

    def __init__(self):
        self._files: list = [None] * self.PARTITIONS

    def add(self, fingerprints: np.ndarray, row_numbers: np.ndarray) -> None:
        """Spool one block: ``fingerprints`` (uint64) and the ``row_numbers`` of the same rows."""
        part = (fingerprints >> np.uint64(58)).astype(np.intp)  # top 6 bits: 64 partitions
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.PARTITIONS + 1))
        pairs = np.empty(len(order), self._PAIR)
        pairs["fingerprint"], pairs["row"] = fingerprints[order], row_numbers[order]
        for p in np.flatnonzero(np.diff(bounds)):
            if self._files[p] is None:
                self._files[p] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
            self._files[p].write(pairs[bounds[p] : bounds[p + 1]].tobytes())

    def candidates(self) -> list[int]:
        """Sorted row numbers of every row whose fingerprint another row of the file shares."""
        rows: list[np.ndarray] = []
        for fh in self._files:
            if fh is None:
                continue
            fh.seek(0)
            pairs = np.frombuffer(fh.read(), self._PAIR)
            ordered = np.sort(pairs["fingerprint"])
            repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
            if repeated.size:
                rows.append(pairs["row"][np.isin(pairs["fingerprint"], repeated)])
        return np.unique(np.concatenate(rows)).tolist() if rows else []

    def __enter__(self) -> _RepeatedKeys:
        return self

    def __exit__(self, *exc) -> None:
        for fh in self._files:
            if fh is not None:
                fh.close()


#: Random odd 64-bit weights, one per character position (positions beyond wrap around).
_KEY_WEIGHTS = np.random.default_rng(653129).integers(1, 2**63, size=4096, dtype=np.uint64) | np.uint64(1)


def key_fingerprints(keys: pa.Array) -> np.ndarray:
    """A 64-bit fingerprint of each string of ``keys`` (no nulls): ``sum((byte + 1) * weight[position])``.

    Equal strings have equal fingerprints; different ones collide with a probability
    below 2^-56 (a random linear hash modulo 2^64 over bytes). Vectorised with NumPy
    over the Arrow buffers, one pass per character position when the keys have one
    width (IDs usually do). A collision costs nothing but a look at the rows, which
    compares the keys themselves.
    """
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    if keys.type == pa.large_string():
        keys = keys.cast(pa.string())
    n = len(keys)
    offsets = np.frombuffer(keys.buffers()[1], np.int32)[keys.offset : keys.offset + n + 1].astype(np.int64)
    data = np.frombuffer(keys.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    starts = offsets[:-1] - offsets[0]
    lengths = np.diff(offsets)
    if not data.size:
        return lengths.astype(np.uint64)
    width = int(lengths[0])
    if 0 < width <= _KEY_WEIGHTS.size and (lengths == width).all():  # the usual case: fixed-width keys
        table = data.reshape(n, width)
        sums = np.zeros(n, np.uint64)
        for j in range(width):  # one pass per character position over all keys
            sums += (table[:, j].astype(np.uint64) + np.uint64(1)) * _KEY_WEIGHTS[j]
        return sums + np.uint64(width * 0x9E3779B97F4A7C15 % 2**64)
    position = np.arange(data.size, dtype=np.int64) - np.repeat(starts, lengths)
    terms = (data.astype(np.uint64) + np.uint64(1)) * _KEY_WEIGHTS[position % _KEY_WEIGHTS.size]
    sums = np.add.reduceat(terms, np.minimum(starts, data.size - 1))
    sums[lengths == 0] = 0  # reduceat gives an element for an empty range
    return sums + lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)


def _key_text(keys: dict[str, pa.Array]) -> pa.Array:
    """The key of each row as one string: the key columns' values (``{name: array}``, in key order)
    as text, joined by a unit separator."""
    parts = [pc.cast(values, pa.string()) for values in keys.values()]
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")


def _quarantine_duplicate_keys(
    cur, contract: Contract, extract: Extract, spool: _QuarantineSpool, batch_id: int, candidates: list[int]
) -> int:
    """Move rows whose key occurs twice or more in the file from raw to the quarantine; return how many.

    The rule (one file is one statement of the source, so a key can mean only one record):
    the same record twice (every value equal) keeps its first row and quarantines the
    others as ``duplicate of row N``; different records under one key are all
    quarantined, since which one is right cannot be told. A correction sent in a later
    file is not a duplicate: staging keeps the latest version (earlier ones stay in raw).
    ``candidates``: row numbers whose key fingerprint repeats (see ``key_fingerprints``);
    their keys are compared here, so a fingerprint collision moves nothing.
    """
    columns = contract.column_names
    key_sql = (
        contract.keys[0]
        if len(contract.keys) == 1
        else "concat_ws(chr(31), " + ", ".join(f"{k}::text" for k in contract.keys) + ")"
    )
    cur.execute(
        f"""select ctid::text, {key_sql}, _row_number, _sheet, md5(row({", ".join(columns)})::text),
                  (select jsonb_object_agg(key, value) from jsonb_each_text(
                     to_jsonb(r) - '_batch_id' - '_logical_date' - '_row_number' - '_sheet' - '_extra')), _extra
            from {contract.raw_table} as r
            where _batch_id = %s and _row_number = any(%s)
            order by _sheet nulls first, _row_number""",
        (batch_id, candidates),
    )
    groups: dict[str, list[tuple]] = {}
    for row in cur.fetchall():
        groups.setdefault(row[1], []).append(row)
    groups = {key: rows for key, rows in groups.items() if len(rows) > 1}
    header_of = {name: extract.labels[pos] for pos, name in enumerate(extract.positions) if name is not None}
    key_label = ", ".join(contract.keys)
    moved: list[str] = []
    for key, rows in groups.items():
        where = [f"{r[3]}!{r[2]}" if r[3] else str(r[2]) for r in rows]
        if len({r[4] for r in rows}) == 1:
            to_move = rows[1:]
            reason = f"{key_label}: duplicate of row {where[0]} (the same record twice in the file)"
        else:
            to_move = rows
            shown = key.replace("\x1f", ", ")
            reason = (
                f"{key_label}: {shown!r} is in rows {', '.join(where)} with different values"
                " (which one is right cannot be told)"
            )
        for ctid, _, row_number, sheet, _, values, extra in to_move:
            record = {header_of.get(name, name): value for name, value in values.items() if name in header_of}
            record.update(extra or {})
            spool.add(row_number, {k: (None if v is None else str(v)) for k, v in record.items()}, [reason], sheet)
            moved.append(ctid)
    cur.execute(f"delete from {contract.raw_table} where ctid = any(%s::tid[])", (moved,))
    return len(moved)


def _salvage_records(
    path: Path, contract: Contract
) -> tuple[list[str], list[tuple[int, list[str] | dict[str, str], str | None]]]:
    """Every record of a rejected file, decoded so that no byte is lost.

    A CSV file is decoded in the encoding it most likely has (its sample's), with bytes
    that do not decode kept as ``\\xNN`` escapes (for the quarantine only; the loader never
    loads such text). Returns ``(header, [(row_number, fields, sheet)])``. A workbook's
    rows (also of one sent under a .csv name: every sheet) are ``{label: cell}`` under
    their own sheet's header (``readers.xlsx_records``), when the workbook opens.
    """
    if path.suffix.lower() == ".xlsx" or workbook_in_disguise(path):
        disguised = path.suffix.lower() != ".xlsx"  # every sheet: which one the department meant is not known
        rows = xlsx_records(path, contract, every_sheet=disguised)
        named = disguised or contract.sheets != "first"
        return [], [(number, cells, sheet if named else None) for number, cells, sheet in rows]
    encoding = guess_encoding(path, contract)
    with open(path, encoding=encoding, errors="backslashreplace", newline="") as fh:
        rows = csv.reader(fh)
        header = next(rows, [])
        records = []
        for i, row in enumerate(rows, start=2):
            if row and any(cell.strip() for cell in row):
                records.append((i, row, None))
    return header, records


def supersede_previous(cur, contract: Contract, logical_date: date, file_name: str, new_batch_id: int) -> list[int]:
    """Delete the rows of earlier batches of the same file and date; mark them superseded."""
    cur.execute(
        """select batch_id from audit.load_batches
           where source = %s and logical_date = %s and file_name = %s
             and batch_id <> %s and status <> 'superseded'
           for update""",
        (contract.source, logical_date, file_name, new_batch_id),
    )
    previous = [r[0] for r in cur.fetchall()]
    if previous:
        cur.execute(f"delete from {contract.raw_table} where _batch_id = any(%s)", (previous,))
        cur.execute(f"delete from {contract.quarantine_table} where _batch_id = any(%s)", (previous,))
        cur.execute(
            "update audit.load_batches set status = 'superseded', superseded_by = %s where batch_id = any(%s)",
            (new_batch_id, previous),
        )
    return previous


def load_file(
    conn: psycopg.Connection,
    contract: Contract,
    path: Path,
    logical_date: date,
    dag_run_id: str | None = None,
) -> BatchResult:
    """Load one extract file as one batch, in one transaction.

    Returns the ``BatchResult`` with status ``loaded`` or ``rejected`` (the file
    is unusable as a whole: ``message`` names the file and the problem). Any other
    error rolls the batch back completely and is raised.
    """
    path = Path(path)
    started = time.perf_counter()
    file_hash, size = file_sha256(path) if path.is_file() else ("", 0)
    delivered_at = delivery_time(path)
    loaded_at = datetime.now(UTC).isoformat()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            """insert into audit.load_batches
                 (source, logical_date, file_name, file_path, file_hash, file_bytes, status, dag_run_id, started_at,
                  delivered_at)
               values (%s, %s, %s, %s, %s, %s, 'loading', %s, %s, %s) returning batch_id""",
            (contract.source, logical_date, path.name, str(path), file_hash, size, dag_run_id, loaded_at, delivered_at),
        )
        batch_id = cur.fetchone()[0]
        supersede_previous(cur, contract, logical_date, path.name, batch_id)
        cur.execute(
            """select batch_id, file_name, logical_date from audit.load_batches
               where source = %s and file_hash = %s and batch_id <> %s and status <> 'superseded'
               order by logical_date, batch_id limit 1""",
            (contract.source, file_hash, batch_id),
        )
        twin = cur.fetchone()
        result = BatchResult(batch_id, contract.source, logical_date, path.name, file_hash, "loaded")
        header: list[str] = []
        encoding = None
        padded: dict[str, list[str]] = {}
        spool = _QuarantineSpool([], batch_id, logical_date)
        try:
            if not path.is_file():
                raise BatchRejected(path, "a folder, not a file: files go directly in <source>/<date>/", salvage=False)
            if not fnmatch.fnmatch(path.name.lower(), contract.file_pattern.lower()):
                raise BatchRejected(
                    path, f"not a file this source sends (contract pattern {contract.file_pattern})", salvage=False
                )
            for careful in (False, True):
                try:
                    with conn.transaction():  # savepoint: a rejected batch leaves no raw row behind
                        extract = open_extract(path, contract, careful=careful)
                        header, encoding, padded = extract.header, extract.encoding, extract.padded
                        spool.labels = extract.labels
                        result.extra_columns = extract.extra_columns
                        try:
                            result.rows_read, result.rows_loaded = _stream_batch(
                                cur, contract, extract, spool, batch_id, logical_date
                            )
                        finally:
                            extract.close()
                        spool.copy_into(cur, contract.quarantine_table)
                        result.rows_quarantined = spool.count
                    break
                except ReadAgainCarefully as why:  # rare: damaged text; the fast read is rolled back
                    if careful:  # pragma: no cover - the careful reader never asks again
                        raise
                    log.info("%s: %s; reading it again record by record", path.name, why)
                    spool.close()
                    spool = _QuarantineSpool([], batch_id, logical_date)
            notes = []
            if twin and twin[2] <= logical_date:
                notes.append(
                    f"same content as batch {twin[0]} ({twin[1]}, {twin[2]}): its records keep their first date"
                )
            elif twin:  # late for an earlier date: this date becomes the records' first
                notes.append(
                    f"same content as batch {twin[0]} ({twin[1]}, {twin[2]}, a later date): its records are known "
                    "from this date now"
                )
            if result.extra_columns:
                notes.append(f"extra columns kept in raw._extra: {', '.join(result.extra_columns)}")
            for column, rows in padded.items():  # flagged: a code Excel stored as a number got its zeros back
                shown = ", ".join(rows[:10]) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
                width = contract.column(column).width
                notes.append(f"{column}: number cells padded with leading zeros to {width} digits in rows {shown}")
            if notes:
                result.message = f"{path.name}: " + "; ".join(notes)
        except Exception as error:  # one file's failure rejects that file only, never its neighbours
            rejected = (
                error
                if isinstance(error, BatchRejected)
                else BatchRejected(path, f"could not be loaded: {type(error).__name__}: {error}".strip())
            )
            log.warning("batch rejected: %s", rejected)
            spool.close()
            result.status, result.message = "rejected", str(rejected)
            header, records = _salvage_records(path, contract) if rejected.salvage else ([], [])
            spool = _QuarantineSpool(header, batch_id, logical_date)
            for row_number, fields, sheet in records:
                spool.add(row_number, fields, [f"batch rejected: {rejected.problem}"], sheet)
            spool.copy_into(cur, contract.quarantine_table)
            result.rows_read = result.rows_quarantined = len(records)
            result.rows_loaded = 0
            result.extra_columns = []
        finally:
            spool.close()
        result.seconds = time.perf_counter() - started
        result.message = _pg_text(result.message)  # a header's NUL may reach the message and the extra columns
        result.extra_columns = [_pg_text(name) for name in result.extra_columns]
        cur.execute(
            """update audit.load_batches set
                 status = %s, message = %s, encoding = %s, header = %s, extra_columns = %s,
                 rows_read = %s, rows_loaded = %s, rows_quarantined = %s,
                 loaded_at = clock_timestamp(), load_seconds = %s
               where batch_id = %s""",
            (
                result.status,
                result.message,
                encoding,
                [_pg_text(name) for name in header],
                result.extra_columns,
                result.rows_read,
                result.rows_loaded,
                result.rows_quarantined,
                round(result.seconds, 3),
                batch_id,
            ),
        )
    # Fresh statistics: without them the planner nests loops over a table it thinks is empty.
    conn.execute(f"analyze {contract.raw_table}")
    conn.commit()
    log.info(
        "%s %s: %s, read %d, loaded %d, quarantined %d in %.2fs",
        contract.source,
        path.name,
        result.status,
        result.rows_read,
        result.rows_loaded,
        result.rows_quarantined,
        result.seconds,
    )
    return result


def delivery_time(path: Path) -> datetime | None:
    """When a file was delivered: its modification time in the landing zone (UTC), ``None`` if unreadable.

    Re-running a date does not touch the files, so their order stays what it was.
    """
    try:
        return datetime.fromtimestamp(Path(path).stat().st_mtime, UTC)
    except OSError:
        return None


def landed_files(landing: Path, contract: Contract, logical_date: date) -> list[Path]:
    """Every file a source dropped for a logical date: ``<landing>/<source>/<YYYY-MM-DD>/*``, in delivery order.

    Every entry counts (hidden ones excepted): a file that does not match the contract's
    pattern, or a sub-folder, becomes a rejected batch, never a silent omission. Files
    come in the order they were delivered (modification time, then name): a correction
    sent later the same day (``… (1).csv``, which sorts first by name) loads after the
    original, and staging takes a record's latest delivery (``latest_published_rows``).
    """
    folder = Path(landing) / contract.source / logical_date.isoformat()
    if not folder.is_dir():
        return []
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    return sorted(entries, key=lambda p: (p.stat().st_mtime_ns, p.name))


def withdraw_missing(conn: psycopg.Connection, contract: Contract, logical_date: date, present: list[str]) -> list[str]:
    """Supersede the batches of a date whose files are no longer in the landing zone.

    Re-running a date makes the warehouse match the landing folder: a file taken back
    by its department (or moved away by an engineer) stops feeding the marts; its
    ledger row stays, status ``superseded``, message ``withdrawn``. Returns their names.
    """
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            """select batch_id, file_name from audit.load_batches
               where source = %s and logical_date = %s and status <> 'superseded'
                 and not (file_name = any(%s))
               for update""",
            (contract.source, logical_date, present),
        )
        gone = cur.fetchall()
        if gone:
            ids = [batch_id for batch_id, _ in gone]
            cur.execute(f"delete from {contract.raw_table} where _batch_id = any(%s)", (ids,))
            cur.execute(f"delete from {contract.quarantine_table} where _batch_id = any(%s)", (ids,))
            cur.execute(
                """update audit.load_batches set status = 'superseded',
                     message = 'withdrawn: the file is no longer in the landing zone'
                   where batch_id = any(%s)""",
                (ids,),
            )
    return [name for _, name in gone]
