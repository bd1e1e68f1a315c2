"""Readers: an extract file (bytes) -> header mapping and records of text cells.

CSV files are decoded strictly in one of the contract's encodings, chosen from the
first bytes with charset-normalizer (a UTF-8 byte-order mark decides at once);
bytes that do not decode reject the batch, never turn into replacement
characters. Excel (.xlsx) files are read with openpyxl in read-only mode. Headers
may be Chinese or English: the contract's aliases map them to column names.

Records are numbered as a spreadsheet shows them: the header is row 1, the first
record row 2. Nothing here converts values; see ``fields`` and ``loading``.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from charset_normalizer import from_bytes

from household_monitoring.contracts import Contract

#: Bytes Arrow's CSV reader parses at a time; no record may be longer.
BLOCK_BYTES = 1 << 20  # 4 MiB blocks measured ~130 MB more peak memory for 1M rows
#: Bytes looked at to choose the encoding.
SNIFF_BYTES = 1 << 18
_UTF8_BOM = b"\xef\xbb\xbf"

# A field of a real extract may be long (notes); the csv module's default cap is 128 KiB.
csv.field_size_limit(16 * 1024 * 1024)


class BatchRejected(Exception):
    """The whole file is unusable (encoding, header, empty); nothing of it is loaded.

    ``str(error)`` names the file and the problem, e.g.
    ``medical_settlements_2024-07-15.csv: required column 'out_of_pocket' is missing``.
    ``salvage`` says whether the file's records can still be read as text for the
    quarantine (not for a file of a type the source does not send).
    """

    def __init__(self, path: Path | str, problem: str, *, salvage: bool = True):
        self.file_name = Path(path).name
        self.problem = problem
        self.salvage = salvage
        super().__init__(f"{self.file_name}: {problem}")


def _normalise_header(text: str) -> str:
    return "".join(str(text).replace("\ufeff", "").split()).casefold()


@dataclass
class Block:
    """Records of an extract, column-wise: ``columns[i]`` holds header position ``i`` as Arrow strings.

    ``row_numbers`` gives each record's row (header = row 1).
    """

    columns: list[pa.Array]
    row_numbers: np.ndarray

    def __len__(self) -> int:
        return len(self.row_numbers)


@dataclass
class BadRecord:
    """A record that cannot be split into the header's fields (too many or too few)."""

    row_number: int
    fields: list[str]
    reason: str


@dataclass
class Extract:
    """An opened extract: its header mapping and its records in blocks.

    ``positions[i]`` is the contract column read from header position ``i``
    (``None`` for an extra column); ``extra_columns`` are headers no contract
    column claims. ``blocks()`` yields ``(Block, [BadRecord])`` pairs.
    """

    path: Path
    encoding: str
    header: list[str]
    positions: list[str | None]
    extra_columns: list[str] = field(default_factory=list)
    _blocks: Iterator[tuple[Block, list[BadRecord]]] | None = None
    _close: object = None

    def blocks(self) -> Iterator[tuple[Block, list[BadRecord]]]:
        return self._blocks

    def close(self) -> None:
        if self._close is not None:
            self._close()


def detect_encoding(path: Path, sample: bytes, accepted: tuple[str, ...]) -> str:
    """The encoding of a CSV file among the contract's accepted encodings.

    A UTF-8 byte-order mark means ``utf-8-sig``; a sample that decodes as UTF-8 is
    UTF-8 (strict UTF-8 almost never accepts GBK text); otherwise charset-normalizer
    chooses among the other accepted encodings. Raises ``BatchRejected`` when no
    accepted encoding decodes the sample.
    """
    if sample.startswith(_UTF8_BOM) and any(e.replace("_", "-").lower().startswith("utf-8") for e in accepted):
        return "utf-8-sig"
    if not sample:
        return accepted[0]
    # Cut the sample at its last line break: a character split by the cut is not an encoding error.
    cut = sample.rfind(b"\n")
    if 0 < cut < len(sample) - 1:
        sample = sample[: cut + 1]
    names = [codecs.lookup(e).name for e in accepted]
    if "utf-8" in names:
        try:
            sample.decode("utf-8")  # UTF-8 validates itself: GBK text almost never decodes as UTF-8
            return "utf-8"
        except UnicodeDecodeError:
            pass
    best = from_bytes(sample, cp_isolation=[n for n in names if n != "utf-8"] or names).best()
    if best is None:
        raise BatchRejected(path, f"text is in none of the accepted encodings {', '.join(accepted)}")
    return codecs.lookup(best.encoding).name  # 'utf_8' -> 'utf-8'


def map_header(path: Path, header: list[str], contract: Contract) -> tuple[list[str | None], list[str]]:
    """Map the file's header to contract columns through the aliases.

    Returns ``(positions, extra_columns)``. Raises ``BatchRejected`` when a
    required column is missing or two headers claim the same column.
    """
    alias_to_column = {}
    for col in contract.columns:
        for alias in (col.name, *col.aliases):
            alias_to_column[_normalise_header(alias)] = col.name
    positions: list[str | None] = []
    extra = []
    seen: dict[str, str] = {}
    for raw in header:
        name = alias_to_column.get(_normalise_header(raw))
        if name is not None and name in seen:
            raise BatchRejected(path, f"headers {seen[name]!r} and {raw!r} both map to column {name!r}")
        if name is None:
            extra.append(str(raw))
        else:
            seen[name] = str(raw)
        positions.append(name)
    missing = [c.name for c in contract.columns if c.required and c.name not in seen]
    if missing:
        aliases = "; ".join(f"{m} ({'/'.join(contract.column(m).aliases)})" for m in missing)
        raise BatchRejected(path, f"required column(s) missing from the header: {aliases}")
    return positions, extra


def _read_header(path: Path, encoding: str) -> list[str]:
    with open(path, encoding=encoding, errors="strict", newline="") as fh:
        try:
            header = next(csv.reader(fh), None)
        except UnicodeDecodeError as exc:
            raise BatchRejected(path, f"header is not {encoding}: {exc.reason}") from None
    if not header or not any(h.strip() for h in header):
        raise BatchRejected(path, "the file is empty (no header)")
    return header


def _csv_blocks(path: Path, encoding: str, width: int) -> tuple[Iterator[tuple[Block, list[BadRecord]]], object]:
    """Stream a CSV file's records (after the header) with Arrow's CSV reader, in blocks."""
    names = [f"f{i}" for i in range(width)]
    seen_bad: list[int] = []  # row numbers of every bad record reported so far, ascending
    pending: list[BadRecord] = []  # bad records not yet handed out

    def on_invalid(row) -> str:
        fields = next(csv.reader([row.text]), []) if row.text else []
        seen_bad.append(row.number or 0)
        pending.append(
            BadRecord(row.number or 0, fields, f"row has {row.actual_columns} fields, the header has {width}")
        )
        return "skip"

    def rejected(exc: Exception, after_row: int) -> BatchRejected:
        reason = getattr(exc, "reason", None) or str(exc)
        where = f" after row {after_row}" if after_row > 1 else ""
        if "straddl" in reason:  # Arrow: one record longer than a read block
            return BatchRejected(path, f"a record{where} is longer than {BLOCK_BYTES >> 20} MiB (a runaway field?)")
        return BatchRejected(path, f"bytes that are not {encoding}{where}: {reason}")

    try:
        reader = _open_arrow_csv(path, encoding, names, on_invalid)
    except (UnicodeDecodeError, pa.ArrowInvalid) as exc:
        raise rejected(exc, 1) from None

    def blocks() -> Iterator[tuple[Block, list[BadRecord]]]:
        ordinal = 0  # good records handed out so far
        last_row = 1
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (UnicodeDecodeError, pa.ArrowInvalid) as exc:
                raise rejected(exc, last_row) from None
            # The k-th good record is row k + 2 plus the bad records before it (header = row 1):
            # with bad rows p_j (ascending), it is preceded by those with p_j - 2 - j <= k.
            shifted = np.array(seen_bad, dtype=np.int64) - 2 - np.arange(len(seen_bad))
            ordinals = np.arange(ordinal, ordinal + batch.num_rows, dtype=np.int64)
            rows = ordinals + 2 + np.searchsorted(shifted, ordinals, side="right")
            ordinal += batch.num_rows
            if batch.num_rows:
                last_row = int(rows[-1])
            bad, pending[:] = pending[:], []
            yield Block(list(batch.columns), rows), bad
        if pending:
            yield Block([pa.array([], pa.string()) for _ in range(width)], np.array([], np.int64)), list(pending)

    return blocks(), reader.close


def _open_arrow_csv(path: Path, encoding: str, names: list[str], on_invalid):
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            encoding="utf8" if encoding in ("utf-8", "ascii") else encoding,
            column_names=names,
            skip_rows=1,
            block_size=BLOCK_BYTES,
            use_threads=False,
        ),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _encoding_sample(path: Path) -> tuple[bytes, bytes]:
    """``(head, sample)``: the file's first bytes, and the bytes to choose the encoding from.

    When the first bytes are plain ASCII (English headers, digits), the sample is taken
    from the first line that is not: ASCII says nothing about UTF-8 versus GBK.
    """
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
        if not head.isascii():
            return head, head
        offset = len(head)
        while block := fh.read(1 << 20):
            if not block.isascii():
                first = next(i for i, byte in enumerate(block) if byte > 127)
                start = block.rfind(b"\n", 0, first) + 1
                fh.seek(offset + start)
                return head, fh.read(SNIFF_BYTES)
            offset += len(block)
    return head, head


def guess_encoding(path: Path, contract: Contract) -> str:
    """The encoding a rejected file most likely has, for reading it into the quarantine."""
    try:
        return detect_encoding(path, _encoding_sample(path)[1], contract.encodings)
    except (BatchRejected, OSError):
        return "utf-8"


def _open_csv(path: Path, contract: Contract) -> Extract:
    head, sample = _encoding_sample(path)
    if not head.strip() or head == _UTF8_BOM:
        raise BatchRejected(path, "the file is empty (no header)")
    encoding = detect_encoding(path, sample, contract.encodings)
    header = _read_header(path, encoding)
    positions, extra = map_header(path, header, contract)
    blocks, close = _csv_blocks(path, encoding, len(header))
    return Extract(path, encoding, header, positions, extra, blocks, close)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _open_xlsx(path: Path, contract: Contract) -> Extract:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for damaged files
        raise BatchRejected(path, f"not a readable .xlsx workbook: {exc}") from None
    sheet = book.worksheets[0]
    cells = sheet.iter_rows(values_only=True)
    first = next(cells, None)
    header = [_cell_text(v) for v in first] if first is not None else None
    if header is None or not any(h.strip() for h in header):
        book.close()
        raise BatchRejected(path, f"sheet {sheet.title!r} is empty (no header)")
    while header and not header[-1].strip():
        header.pop()
    try:
        positions, extra = map_header(path, header, contract)
    except BatchRejected:
        book.close()
        raise
    id_positions = {
        pos: name for pos, name in enumerate(positions) if name and contract.column(name).type == "resident_id"
    }
    return Extract(path, "xlsx", header, positions, extra, _row_blocks(cells, len(header), id_positions), book.close)


def _row_blocks(
    cells: Iterator[tuple], width: int, id_positions: dict[int, str], size: int = 20000
) -> Iterator[tuple[Block, list[BadRecord]]]:
    """Worksheet rows (after the header, which is row 1) -> blocks of ``size`` records.

    A resident ID stored as a number is refused: Excel keeps 15 significant digits, so
    the last ones are lost and the number may even be another valid ID.
    """

    def flush(buffer: list[list[str]], numbers: list[int]) -> Block:
        columns = [pa.array([r[i] for r in buffer], pa.string()) for i in range(width)]
        return Block(columns, np.array(numbers, dtype=np.int64))

    buffer: list[list[str]] = []
    numbers: list[int] = []
    bad: list[BadRecord] = []
    for row_number, values in enumerate(cells, start=2):
        row = [_cell_text(v) for v in values]
        if not any(cell.strip() for cell in row):
            continue  # empty spreadsheet row
        numeric_ids = [
            name for pos, name in id_positions.items() if pos < len(values) and isinstance(values[pos], int | float)
        ]
        if numeric_ids:
            reason = f"{numeric_ids[0]}: resident ID stored as a number in Excel (digits beyond the 15th are lost)"
            bad.append(BadRecord(row_number, row, reason))
            continue
        used = len(row)
        while used and not row[used - 1].strip():
            used -= 1
        if used > width:
            bad.append(BadRecord(row_number, row[:used], f"row has {used} fields, the header has {width}"))
            continue
        buffer.append(row[:width] + [""] * (width - len(row)))
        numbers.append(row_number)
        if len(buffer) >= size:
            yield flush(buffer, numbers), bad
            buffer, numbers, bad = [], [], []
    if buffer or bad:
        yield flush(buffer, numbers), bad


def open_extract(path: Path, contract: Contract) -> Extract:
    """Open an extract for reading; the caller must ``close()`` it.

    Raises ``BatchRejected`` for an empty file, an unusable encoding or header.
    """
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        return _open_xlsx(path, contract)
    return _open_csv(path, contract)
