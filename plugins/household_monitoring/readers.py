"""Readers: an extract file (bytes) -> header mapping and records of text cells.

CSV files are decoded strictly in one of the contract's encodings, chosen from the
first bytes with charset-normalizer (a UTF-8 or UTF-16 byte-order mark decides at
once; UTF-16 without one is recognised by its zero bytes);
bytes that do not decode reject the batch, never turn into replacement
characters. Excel (.xlsx) files are read with python-calamine (Rust; ~10x openpyxl's
read-only mode), from the sheets the contract names: number cells in date columns are Excel serial dates
(1900 or 1904 system), number cells in fixed-width code columns get back their
leading zeros, and a number cell holding more than 15 digits (resident IDs,
household numbers) is refused because Excel kept only 15 of them. Headers
may be Chinese or English: the contract's aliases map them to column names.

Records are numbered as a spreadsheet shows them: the header is row 1, the first
record row 2. Nothing here converts values; see ``fields`` and ``loading``.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from itertools import islice
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
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

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


class ReadAgainCarefully(Exception):
    """The fast reader met text it cannot read exactly; read the file again with ``careful=True``.

    Raised by ``Extract.blocks()`` of a CSV file (before or after blocks were handed
    out: the caller discards what it got) when bytes do not decode, a record spans
    lines while having the wrong number of fields, or the file holds more lines than
    records (a quoted field that swallowed lines). ``str(error)`` says which.
    """


def _normalise_header(text: str) -> str:
    return "".join(str(text).replace("\ufeff", "").split()).casefold()


def record_labels(header: list[str]) -> list[str]:
    """One distinct label per header position, the keys of a record kept as JSON (``_extra``, quarantine).

    A header's own text on its first occurrence; the k-th column headed the same (compared
    as written) is ``<header> (k)`` — two columns both headed 备注 keep both values, as
    ``备注`` and ``备注 (2)``, and an .xlsx's sheets line up by occurrence whatever their
    column order; a blank header is ``_field_<n>`` (``n``: its column, from 1), as a field
    beyond the header is (``label_at``). A generated label that a header of the file already
    has as its own text gets ``#<n>`` appended until it is distinct (a header written
    ``备注 (2)``, or ``_field_13``, keeps its name): no value is ever lost under another's key.
    """
    texts = [str(raw) for raw in header]
    used = {text for text in texts if text.strip()}  # every header's own text keeps its name first
    labels: list[str] = []
    seen: dict[str, int] = {}
    for position, text in enumerate(texts, start=1):
        if text.strip():
            seen[text] = seen.get(text, 0) + 1
            if seen[text] == 1:
                labels.append(text)
                continue
            label = f"{text} ({seen[text]})"
        else:
            label = f"_field_{position}"
        while label in used:
            label += f"#{position}"
        used.add(label)
        labels.append(label)
    return labels


def label_at(labels: list[str], position: int) -> str:
    """The label of header position ``position`` (from 0); beyond the header ``_field_<n>`` (``n`` from 1),
    with ``#<n>`` appended while the header already has that label."""
    if position < len(labels):
        return labels[position]
    label = f"_field_{position + 1}"
    while label in labels:
        label += f"#{position + 1}"
    return label


@dataclass
class Block:
    """Records of an extract, column-wise: ``columns[i]`` holds header position ``i`` as Arrow strings.

    ``row_numbers`` gives each record's row (header = row 1).
    """

    columns: list[pa.Array]
    row_numbers: np.ndarray
    sheets: pa.Array | None = None  # the worksheet of each record (.xlsx only)

    def __len__(self) -> int:
        return len(self.row_numbers)


@dataclass
class BadRecord:
    """A record that cannot be split into the header's fields (too many or too few)."""

    row_number: int
    fields: list[str] | dict[str, str]  # in header order, or {label: value} (a worksheet's own labels)
    reason: str
    sheet: str | None = None


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
    with_sheet: bool = False  # records carry their worksheet (.xlsx read from named or all sheets)
    #: column -> rows (``sheet!row``) whose number cell was padded to the contract's width (.xlsx),
    #: filled while the blocks are read: the loader reports them in the ledger.
    padded: dict[str, list[str]] = field(default_factory=dict)
    _blocks: Iterator[tuple[Block, list[BadRecord]]] | None = None
    _close: object = None

    @cached_property
    def labels(self) -> list[str]:
        """The header's ``record_labels``: the keys of its records kept as JSON."""
        return record_labels(self.header)

    def blocks(self) -> Iterator[tuple[Block, list[BadRecord]]]:
        return self._blocks

    def close(self) -> None:
        if self._close is not None:
            self._close()


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` when the first bytes look like UTF-16 text without a BOM.

    Text of Chinese headers and ASCII digits in UTF-16 has a zero byte in most of its
    odd (LE) or even (BE) positions; UTF-8 and GB18030 text has almost none.
    """
    sample = head[:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def locate_decode_error(path: Path, encoding: str) -> str:
    """Where a file first stops decoding in ``encoding``: ``'line L, byte offset O: ff fe'``.

    Lines are counted as the text shows them (a quoted field with a line break spans
    two). Reads the file in 1 MiB blocks with an incremental strict decoder; returns
    ``''`` when the whole file decodes.
    """
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line, offset = 1, 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                data = exc.object
                good = data[: exc.start].decode(encoding, errors="ignore")
                at = offset + len(block) - len(data) + exc.start
                bad = " ".join(f"{b:02x}" for b in data[exc.start : exc.end])
                return f"line {line + good.count(chr(10))}, byte offset {at}: {bad}"
            line += text.count("\n")
            offset += len(block)
            if not block:
                return ""


def mostly_decodes(sample: bytes, encoding: str) -> bool:
    """Whether fewer than half of the sample's lines with non-ASCII bytes fail to decode in ``encoding``.

    Text in another encoding fails on nearly every such line (GBK read as UTF-8);
    a file with a damaged byte pair fails on that line only. A line break (0x0A) is
    never part of a multi-byte character in UTF-8 or GB18030, so lines split cleanly.
    """
    lines = [line for line in sample.split(b"\n") if not line.isascii()]
    failed = 0
    for line in lines:
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            failed += 1
    return failed > 0 and failed * 2 < len(lines)


def _accepts_utf16(accepted: tuple[str, ...]) -> bool:
    return any(codecs.lookup(e).name.startswith("utf-16") for e in accepted)


def detect_encoding(path: Path, sample: bytes, accepted: tuple[str, ...], head: bytes | None = None) -> str:
    """The encoding of a CSV file among the contract's accepted encodings.

    ``head``: the file's first bytes (default: ``sample``). A UTF-16 byte-order mark
    means ``utf-16`` and zero bytes in every other position ``utf-16-le``/``-be``
    (refused unless the contract accepts ``utf-16``); a UTF-8 byte-order mark means
    ``utf-8-sig``; a sample that decodes as UTF-8 is
    UTF-8 (strict UTF-8 almost never accepts GBK text); otherwise charset-normalizer
    chooses among the other accepted encodings. Raises ``BatchRejected`` when no
    accepted encoding decodes the sample.
    """
    head = sample if head is None else head
    utf16 = "utf-16" if head.startswith(_UTF16_BOMS) else _utf16_without_bom(head)
    if utf16:
        if not _accepts_utf16(accepted):
            raise BatchRejected(path, f"text is UTF-16, not one of the accepted encodings {', '.join(accepted)}")
        return utf16
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
            if mostly_decodes(sample, "utf-8"):  # a damaged line in UTF-8 text, not another encoding
                return "utf-8"
    # UTF-16 is recognised above (BOM, zero bytes) and never guessed from statistics.
    candidates = [n for n in names if n != "utf-8" and not n.startswith("utf-16")]
    best = from_bytes(sample, cp_isolation=candidates).best() if candidates else None
    if best is None:
        # No encoding decodes every byte: the one that decodes most lines, if it decodes most of
        # them, is the file's, and its damaged lines are quarantined (``careful`` reading).
        damaged = next((n for n in candidates if mostly_decodes(sample, n)), None)
        if damaged:
            return damaged
        where = locate_decode_error(path, "utf-8") if "utf-8" in names else ""
        where = f" (not UTF-8 at {where})" if where else ""
        raise BatchRejected(path, f"text is in none of the accepted encodings {', '.join(accepted)}{where}")
    return codecs.lookup(best.encoding).name  # 'utf_8' -> 'utf-8'


def map_header(path: Path, header: list[str], contract: Contract) -> tuple[list[str | None], list[str]]:
    """Map the file's header to contract columns through the aliases.

    Returns ``(positions, extra_columns)``, the extra columns by their ``record_labels``.
    Raises ``BatchRejected`` when a required column is missing or two headers claim the
    same column.
    """
    alias_to_column = {}
    for col in contract.columns:
        for alias in (col.name, *col.aliases):
            alias_to_column[_normalise_header(alias)] = col.name
    positions: list[str | None] = []
    extra = []
    seen: dict[str, str] = {}
    for raw, label in zip(header, record_labels(header), strict=True):
        name = alias_to_column.get(_normalise_header(raw))
        if name is not None and name in seen:
            raise BatchRejected(path, f"headers {seen[name]!r} and {raw!r} both map to column {name!r}")
        if name is None:
            extra.append(label)
        else:
            seen[name] = str(raw)
        positions.append(name)
    missing = [c.name for c in contract.columns if c.required and c.name not in seen]
    if missing:
        aliases = "; ".join(f"{m} ({'/'.join(contract.column(m).aliases)})" for m in missing)
        raise BatchRejected(path, f"required column(s) missing from the header: {aliases}")
    return positions, extra


def _read_header(path: Path, encoding: str) -> list[str]:
    # Undecodable bytes after the header are the records' business (quarantined with their line).
    errors = "strict" if encoding.startswith("utf-16") else "surrogateescape"
    with open(path, encoding=encoding, errors=errors, newline="") as fh:
        try:
            header = next(csv.reader(fh), None)
        except UnicodeDecodeError as exc:
            where = locate_decode_error(path, encoding)
            raise BatchRejected(path, f"bytes that are not {encoding} at {where} ({exc.reason})") from None
    if header and any(_SURROGATE.search(h) for h in header):
        where = locate_decode_error(path, encoding)
        raise BatchRejected(path, f"bytes that are not {encoding} in the header, at {where}")
    if not header or not any(h.strip() for h in header):
        raise BatchRejected(path, "the file is empty (no header)")
    return header


def _csv_blocks(path: Path, encoding: str, width: int) -> tuple[Iterator[tuple[Block, list[BadRecord]]], object]:
    """Stream a CSV file's records (after the header) with Arrow's CSV reader, in blocks."""
    names = [f"f{i}" for i in range(width)]
    seen_bad: list[int] = []  # row numbers of every bad record reported so far, ascending
    pending: list[BadRecord] = []  # bad records not yet handed out

    spans_lines: list[str] = []  # an invalid record that spans lines: a quote that never closed?
    exact = not encoding.startswith("utf-16")  # line and byte checks work on ASCII-compatible text

    def on_invalid(row) -> str:
        fields = next(csv.reader([row.text]), []) if row.text else []
        if exact and row.text and ("\n" in row.text or "\r" in row.text):
            spans_lines.append(f"a record of {row.actual_columns} fields spans lines")
        seen_bad.append(row.number or 0)
        pending.append(
            BadRecord(row.number or 0, fields, f"row has {row.actual_columns} fields, the header has {width}")
        )
        return "skip"

    def rejected(exc: Exception, after_row: int) -> BatchRejected | ReadAgainCarefully:
        reason = getattr(exc, "reason", None) or str(exc)
        where = f" after row {after_row}" if after_row > 1 else ""
        if "straddl" in reason:  # Arrow: one record longer than a read block
            return BatchRejected(path, f"a record{where} is longer than {BLOCK_BYTES >> 20} MiB (a runaway field?)")
        if exact and (isinstance(exc, UnicodeDecodeError) or "utf8" in reason.lower()):
            return ReadAgainCarefully(f"bytes that are not {encoding}: {reason}")
        located = locate_decode_error(path, encoding) if isinstance(exc, UnicodeDecodeError) else ""
        if located:
            return BatchRejected(path, f"bytes that are not {encoding} at {located} ({reason})")
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
            if spans_lines:
                raise ReadAgainCarefully(spans_lines[0])
            bad, pending[:] = pending[:], []
            yield Block(list(batch.columns), rows), bad
        if spans_lines:
            raise ReadAgainCarefully(spans_lines[0])
        if exact:
            # One record per line after the header, or a quoted field holds line breaks
            # (legitimately, or swallowing records after a stray quote): then read line by line.
            lines, records = count_lines(path), ordinal + len(seen_bad)
            if lines is not None and lines != records + 1:
                raise ReadAgainCarefully(f"{lines} lines hold {records} records and a header")
            if lines is not None and (fault := quoting_fault(path, encoding)):
                raise ReadAgainCarefully(fault)
        if pending:
            yield Block([pa.array([], pa.string()) for _ in range(width)], np.array([], np.int64)), list(pending)

    return blocks(), reader.close


def count_lines(path: Path) -> int | None:
    """Line breaks (0x0A bytes) in a file, read in 1 MiB blocks; ``None`` when it holds no quote (0x22).

    Without a quote no record can span lines, and the count is not needed: the quote
    test is a ``memchr`` (~10 ms per 100 MB), the count several times slower.
    """
    with open(path, "rb") as fh:
        if not any(b'"' in block for block in iter(lambda: fh.read(1 << 20), b"")):
            return None
        fh.seek(0)
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))


def quoting_fault(path: Path, encoding: str) -> str | None:
    """Where the first quote of a file breaks the CSV quoting rule (RFC 4180: a quote inside a quoted
    field is written as two quotes), e.g. ``line 3: ',' expected after '"'``; ``None`` when sound.

    ``"夏普"吐勒乡卫生院"`` is read by lenient readers (Arrow's, Python's default) as the value
    ``夏普吐勒乡卫生院"`` without a word: the exporter did not double the quote, and what the value
    should be is unknown. Python's csv module in strict mode (C speed) finds it; called only for
    files that hold a quote (``count_lines`` is not ``None``). A quote inside an unquoted field
    (``县"人民医院``) is read as itself, as RFC 4180 readers do.
    """
    if quotes_sound(path):  # the usual file (every field quoted, or none): no strict pass needed
        return None
    with open(path, encoding=encoding, errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            for _ in reader:
                pass
        except csv.Error as exc:
            return f"line {reader.line_num}: {exc}"
    return None


_QUOTE = 0x22
#: Bytes that may stand beside a field's opening or closing quote: comma, CR, LF and the quote itself.
_AROUND_QUOTES = np.zeros(256, bool)
_AROUND_QUOTES[[0x2C, 0x0D, 0x0A, _QUOTE]] = True


def quotes_sound(path: Path, block_bytes: int = 1 << 20) -> bool:
    """Whether every quote of a CSV file surely follows RFC 4180, judged from its bytes with NumPy.

    Counting quotes from the file's start, an even-numbered one opens a field (a comma, a
    line break, the start of the file or the quote before it precedes it) and an odd-numbered
    one closes it (a comma, a line break, the end of the file or a doubling quote follows it),
    and the count is even. Then Python's strict csv reader finds nothing (``quoting_fault``'s
    exact pass is skipped); ``False`` means only "look closer". The bytes beside the quotes
    are looked up in a 256-entry table (0.3 s per 1M settlement rows, 136 MB with every field
    quoted, against 0.9 s with ``np.isin``; issue 10). For encodings where these four bytes
    are never part of another character (UTF-8, GBK, GB 18030); ``quoting_fault`` is not
    called for UTF-16.
    """
    count = 0  # quotes so far: an even count means the next quote opens a field
    before_block = 0x0A  # the byte before the current block (the file's start counts as a line start)
    close_at_end = False  # the previous block ended with a closing quote: check the byte after it
    with open(path, "rb") as fh:
        while block := fh.read(block_bytes):
            data = np.frombuffer(block, np.uint8)
            if close_at_end and not _AROUND_QUOTES[data[0]]:
                return False
            at = np.flatnonzero(data == _QUOTE)
            close_at_end = False
            if at.size:
                opening, closing = at[count % 2 :: 2], at[1 - count % 2 :: 2]
                if opening.size and opening[0] == 0:  # the byte before it ended the previous block
                    if not _AROUND_QUOTES[before_block]:
                        return False
                    opening = opening[1:]
                if not _AROUND_QUOTES[data[opening - 1]].all():
                    return False
                if closing.size and closing[-1] == data.size - 1:  # the byte after it starts the next block
                    close_at_end, closing = True, closing[:-1]
                if not _AROUND_QUOTES[data[closing + 1]].all():
                    return False
                count += at.size
            before_block = data[-1]
    return count % 2 == 0


def misquoted_field(text: str) -> int | None:
    """The 0-based position of the first field of one record's ``text`` whose closing quote is
    followed by more text instead of a comma or the line end (a quote inside a quoted field
    that was not doubled); ``None`` when every quoted field is closed properly.

    ``'a,"夏普"吐勒乡卫生院",b'`` gives 1; ``'a,"县""人民""医院",b'`` (doubled quotes) gives ``None``.
    A quote that is never closed is not this fault (the record then has too few fields).
    """
    field, i, n = 0, 0, len(text)
    at_start, quoted = True, False
    while i < n:
        char = text[i]
        if quoted:
            if char == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 2
                    continue
                quoted = False
                if i + 1 < n and text[i + 1] not in ",\r\n":
                    return field
        elif char == ",":
            field, at_start = field + 1, True
            i += 1
            continue
        elif char == '"' and at_start:
            quoted = True
        at_start = False
        i += 1
    return None


def ends_with_line_break(path: Path) -> bool:
    """Whether a file's last byte is a line break (a cut file ends inside its last record)."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        if not fh.tell():
            return True
        fh.seek(-1, 2)
        return fh.read(1) in (b"\n", b"\r")


_SURROGATE = re.compile("[\udc80-\udcff]+")  # bytes that did not decode (errors="surrogateescape")


def _escaped(text: str) -> str:
    """Undecoded bytes of ``text`` (surrogate escapes) as ``\\xNN``, as the quarantine keeps them."""
    return _SURROGATE.sub(lambda m: "".join(f"\\x{ord(c) - 0xDC00:02x}" for c in m.group()), text)


def _careful_csv_blocks(
    path: Path, encoding: str, labels: list[str], size: int = 20000
) -> tuple[Iterator[tuple[Block, list[BadRecord]]], object]:
    """Read a CSV file record by record with Python's csv module, confining damage to its line.

    For the files the fast reader cannot read exactly (``ReadAgainCarefully``):

    - bytes that do not decode in ``encoding`` make their record a ``BadRecord``:
      ``person_name: bytes that are not gb18030 at line 5: bd`` (the field keeps them as
      ``\\xbd``); the other records load;
    - a record that spans lines although one of its later lines, read alone, has the
      header's number of fields (a stray quote swallowed the lines after it) is read
      line by line: each line is a record, the one with the stray quote a ``BadRecord``;
      a quoted field with a line break in a well-formed record stays one record;
    - a last record without a line ending (the file may have been cut) is a ``BadRecord``.

    ``labels``: the contract column (else the header) at each position, for the reasons.
    Records are numbered as in the fast reader (header = row 1, blank lines not counted).
    """
    width = len(labels)
    complete = ends_with_line_break(path)
    fh = open(path, encoding=encoding, errors="surrogateescape", newline="")  # noqa: SIM115
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in fh:
            consumed.append(line)
            yield line

    reader = csv.reader(lines())
    next(reader, None)  # the header (read and checked by ``_read_header``)
    line_no = len(consumed)
    consumed.clear()

    def alone(line: str) -> list[str]:
        return next(csv.reader([line]), [])

    def pieces() -> Iterator[tuple[int, list[str], str]]:
        """``(first line, fields, text)`` of each record; a record swallowing lines is split into its lines."""
        nonlocal line_no
        for fields in reader:
            own, start = consumed[:], line_no + 1
            consumed.clear()
            line_no += len(own)
            if not fields:
                continue  # a blank line
            if len(own) > 1 and any(len(alone(line)) == width for line in own[1:]):
                for i, line in enumerate(own):
                    if line.strip("\r\n"):
                        yield start + i, alone(line), line
            else:
                yield start, fields, "".join(own)

    def reasons(line: int, fields: list[str], text: str, last: bool) -> list[str]:
        found = []
        if _SURROGATE.search(text):
            offset = 0
            for position, value in enumerate(fields):
                for match in _SURROGATE.finditer(value):
                    where = line + value.count("\n", 0, match.start()) + offset
                    label = label_at(labels, position)
                    shown = " ".join(f"{ord(c) - 0xDC00:02x}" for c in match.group())
                    found.append(f"{label}: bytes that are not {encoding} at line {where}: {shown}")
                offset += value.count("\n")
        if '"' in text and (position := misquoted_field(text)) is not None:
            label = label_at(labels, position)
            found.append(
                f"{label}: a quote inside a quoted field at line {line} (a quote in a value is written as two "
                'quotes ""): the value is not known'
            )
        if len(fields) != width:
            reason = f"row has {len(fields)} fields, the header has {width}"
            if text.count('"') % 2:
                reason += f" (line {line}: a quote that is not closed on its line)"
            found.append(reason)
        if last and not complete:
            found.append(f"line {line}: the last record has no line ending: the file may have been cut short")
        return found

    def blocks() -> Iterator[tuple[Block, list[BadRecord]]]:
        buffer: list[list[str]] = []
        numbers: list[int] = []
        bad: list[BadRecord] = []
        row = 1
        records = pieces()
        current = next(records, None)
        while current is not None:
            following = next(records, None)
            line, fields, text = current
            row += 1
            found = reasons(line, fields, text, following is None)
            if found:
                bad.append(BadRecord(row, [_escaped(f) for f in fields], "; ".join(found)))
            else:
                buffer.append(fields)
                numbers.append(row)
            if len(buffer) >= size or following is None:
                columns = [pa.array([r[i] for r in buffer], pa.string()) for i in range(width)]
                yield Block(columns, np.array(numbers, dtype=np.int64)), bad
                buffer, numbers, bad = [], [], []
            current = following

    return blocks(), fh.close


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
        head, sample = _encoding_sample(path)
        return detect_encoding(path, sample, (*contract.encodings, "utf-16"), head)
    except (BatchRejected, OSError):
        return "utf-8"


#: First bytes of files that are not text, as a department may send them under a .csv name.
_EXCEL_ADVICE = "ask the department to export it as CSV (Excel: Save As, CSV UTF-8) and send it again"
_NOT_TEXT = (
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or another zip file", _EXCEL_ADVICE),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls) or another Office file", _EXCEL_ADVICE),
    (b"%PDF-", "a PDF document", "a PDF is a printout, not data: ask the department for the CSV export"),
)


def workbook_in_disguise(path: Path) -> bool:
    """Whether a file starts as an .xlsx workbook does (zip bytes), whatever its name."""
    with open(path, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def _refuse_binary(path: Path, head: bytes) -> None:
    """Raise ``BatchRejected`` when a CSV extract's first bytes are a workbook's, a PDF's (not text).

    Read as text, such a file is a stream of undecodable bytes; the message says what the
    file is and what to ask the department for. A workbook's rows still reach the quarantine
    as cells (``xlsx_records``); an .xls or PDF is kept as the file, its hash in the ledger.
    """
    for magic, what, advice in _NOT_TEXT:
        if head.startswith(magic):
            raise BatchRejected(
                path,
                f"{what} with a {path.suffix or 'missing'} name, not CSV text: {advice}, then re-run the date",
                salvage=magic == b"PK\x03\x04",
            )


def _open_csv(path: Path, contract: Contract, careful: bool = False) -> Extract:
    head, sample = _encoding_sample(path)
    _refuse_binary(path, head)
    if not head.strip() or head in (_UTF8_BOM, *_UTF16_BOMS):
        raise BatchRejected(path, "the file is empty (no header)")
    encoding = detect_encoding(path, sample, contract.encodings, head)
    header = _read_header(path, encoding)
    positions, extra = map_header(path, header, contract)
    if not encoding.startswith("utf-16") and (careful or not ends_with_line_break(path)):
        labels = [name or label for name, label in zip(positions, record_labels(header), strict=True)]
        blocks, close = _careful_csv_blocks(path, encoding, labels)
    else:
        blocks, close = _csv_blocks(path, encoding, len(header))
    return Extract(path, encoding, header, positions, extra, False, {}, blocks, close)


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


def _sheets_to_read(path: Path, book, contract: Contract) -> list:
    """The worksheets the contract names (``first``, ``all`` or a list); a named sheet that is missing rejects.

    Chart sheets hold no cells and are never read.
    """
    from python_calamine import SheetTypeEnum

    names = [m.name for m in book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
    if contract.sheets == "first":
        chosen = names[:1]
    elif contract.sheets == "all":
        chosen = names
    else:
        missing = [name for name in contract.sheets if name not in names]
        if missing:
            raise BatchRejected(path, f"sheet(s) {', '.join(map(repr, missing))} missing (the workbook has {names})")
        chosen = list(contract.sheets)
    return [book.get_sheet_by_name(name) for name in chosen]


def _is_1904(path: Path) -> bool:
    """Whether the workbook counts serial dates from 1904 (``<workbookPr date1904="1"/>`` in xl/workbook.xml)."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as archive:
        try:
            xml = archive.read("xl/workbook.xml").decode("utf-8", "replace")
        except KeyError:
            return False
    return re.search(r"""date1904\s*=\s*["'](1|true)["']""", xml) is not None


def xlsx_records(path: Path, contract: Contract, every_sheet: bool = False) -> list[tuple[int, dict[str, str], str]]:
    """Every non-empty row of a workbook's sheets as text, for the quarantine of a rejected batch.

    Returns ``[(row_number, {label: cell}, sheet)]``, each row under its own sheet's header
    (``record_labels``; the first non-blank row of the sheet), from the sheets the contract
    names (``every_sheet``: all of them, for a workbook sent under a .csv name); ``[]`` when
    the workbook cannot be opened at all. Rows read still counts the file's rows.
    """
    from openpyxl import load_workbook

    with open(path, "rb") as handle:  # a file object: openpyxl refuses a workbook by its name (one saved as .csv)
        try:
            book = load_workbook(handle, read_only=True, data_only=True)
        except Exception:  # a damaged workbook: nothing can be read
            return []
        try:
            sheets = book.worksheets[:1] if contract.sheets == "first" and not every_sheet else book.worksheets
            records = []
            for sheet in sheets:
                labels = None
                for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                    cells = [_cell_text(v) for v in values]
                    if not any(c.strip() for c in cells):
                        continue
                    if labels is None:
                        while cells and not cells[-1].strip():
                            cells.pop()
                        labels = record_labels(cells)
                    else:
                        records.append((number, {label_at(labels, i): c for i, c in enumerate(cells)}, sheet.title))
            return records
        except Exception:
            return []
        finally:
            book.close()


def _open_xlsx(path: Path, contract: Contract) -> Extract:
    """Open a workbook with python-calamine (Rust): ~10x openpyxl's read-only mode, measured (issue 10).

    Each sheet read is held in memory while it is read (calamine reads a sheet whole,
    ~30 MB per 100,000 rows of 7 columns); records still go out in blocks. Row numbers
    are the spreadsheet's; blank rows above a sheet's header are skipped.
    """
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        date1904 = _is_1904(path)
    except Exception as exc:  # calamine and zipfile raise several types for damaged files
        raise BatchRejected(path, f"not a readable .xlsx workbook: {exc}") from None
    try:
        sheets = _sheets_to_read(path, book, contract)
        # Each sheet's header is mapped on its own; the extract's header is the first sheet's,
        # followed by the headers later sheets add. Cells are moved to that order.
        header: list[str] = []
        canonical: dict[str, int] = {}  # contract column or normalised extra header -> position in ``header``
        layouts = []
        for sheet in sheets:
            cells = iter(sheet.iter_rows())
            first = next(cells, None)
            first_row = 1  # calamine's rows start at the sheet's row 1 (its columns at the first used one)
            while first is not None and not any(_cell_text(v).strip() for v in first):
                first, first_row = next(cells, None), first_row + 1  # blank rows above the table
            sheet_header = [_cell_text(v) for v in first] if first is not None else []
            while sheet_header and not sheet_header[-1].strip():
                sheet_header.pop()
            if sheet_header and sheet.width > len(sheet_header):
                # cells under blank headers at the end of the header row: columns too, when a
                # record has a value there (as in a CSV: ``_field_<n>``), not the sheet's formatting
                sheet_header += [""] * (_widest_record(sheet, first_row) - len(sheet_header))
            if not any(h.strip() for h in sheet_header):
                if len(sheets) > 1 and layouts:
                    continue  # an empty extra sheet (a blank "Sheet2") holds no record
                raise BatchRejected(path, f"sheet {sheet.name!r} is empty (no header)")
            try:
                positions, _ = map_header(path, sheet_header, contract)
            except BatchRejected as rejected:
                if len(sheets) == 1:
                    raise
                raise BatchRejected(path, f"sheet {sheet.name!r}: {rejected.problem}") from None
            order = []
            repeats: dict[str, int] = {}  # an extra header's occurrences in this sheet so far
            for raw, name in zip(sheet_header, positions, strict=True):
                key = name or "extra:" + _normalise_header(raw)
                if name is None:  # the k-th 备注 of one sheet lines up with the k-th of another
                    repeats[key] = repeats.get(key, 0) + 1
                    key += f"#{repeats[key]}"
                if key not in canonical:
                    canonical[key] = len(header)
                    header.append(raw)
                order.append(canonical[key])
            layouts.append((sheet.name, cells, order, first_row + 1, record_labels(sheet_header)))
        positions, extra = map_header(path, header, contract)
    except BatchRejected:
        book.close()
        raise
    kinds = {pos: contract.column(name) for pos, name in enumerate(positions) if name}
    multi = len(sheets) > 1 or contract.sheets != "first"
    padded: dict[str, list[str]] = {}
    blocks = _row_blocks(layouts, len(header), kinds, date1904, with_sheet=multi, padded=padded)
    return Extract(path, "xlsx", header, positions, extra, multi, padded, blocks, book.close)


#: Excel's 1900 date system: serial 1 is 1900-01-01, and serial 60 is 1900-02-29, a day that
#: never existed (kept from Lotus 1-2-3), so serials from 61 on are one day ahead.
_EXCEL_1900 = date(1899, 12, 31)
_EXCEL_1904 = date(1904, 1, 1)
_EXCEL_LAST_SERIAL = 2958465  # 9999-12-31 in the 1900 system, Excel's last date


def excel_serial_date(serial: float, date1904: bool = False) -> date:
    """An Excel serial day number -> the calendar date it shows (ISO 29500 §18.17.4.1).

    Raises ``ValueError`` for a fraction of a day, a serial below the system's first
    day or beyond 9999-12-31 (2958465), or 60 in the 1900 system (1900-02-29, which
    does not exist).
    """
    if serial != int(serial):
        raise ValueError(f"Excel serial date {serial} has a time of day")
    serial = int(serial)
    if serial > _EXCEL_LAST_SERIAL:  # e.g. 20240315 typed as a number: no date, never a crash
        raise ValueError(f"number {serial} is not an Excel date (serial dates end at {_EXCEL_LAST_SERIAL}, 9999-12-31)")
    if date1904:
        if serial < 0:
            raise ValueError(f"Excel serial date {serial} is before 1904-01-01")
        return _EXCEL_1904 + timedelta(days=serial)
    if serial < 1:
        raise ValueError(f"Excel serial date {serial} is before 1900-01-01")
    if serial == 60:
        raise ValueError("Excel serial date 60 is 1900-02-29, a day that did not exist (Excel's 1900 leap-year bug)")
    return _EXCEL_1900 + timedelta(days=serial if serial < 60 else serial - 1)


def _xlsx_cell(value: object, column, date1904: bool) -> str:
    """One worksheet cell -> text for the checks; raises ``ValueError`` with the reason a number is refused."""
    if column is None or isinstance(value, bool) or not isinstance(value, int | float):
        return _cell_text(value)
    if column.type == "date":
        return excel_serial_date(value, date1904).isoformat()
    if column.type in ("resident_id", "text"):
        digits = _cell_text(value)
        if column.type == "resident_id":
            raise ValueError("resident ID stored as a number in Excel (digits beyond the 15th are lost)")
        if abs(value) >= 1e15:
            raise ValueError(f"a number of more than 15 digits in Excel ({digits}): digits beyond the 15th are lost")
        if column.width is not None and digits.isdigit() and len(digits) < column.width:
            return digits.zfill(column.width)  # Excel dropped the leading zeros of the code
        return digits
    return _cell_text(value)


def _widest_record(sheet, header_row: int) -> int:
    """The most cells up to a last non-blank one among a sheet's rows after ``header_row`` (a second pass)."""
    widest = 0
    for row in islice(sheet.iter_rows(), header_row, None):
        used = len(row)
        while used > widest and not _cell_text(row[used - 1]).strip():
            used -= 1
        widest = max(widest, used)
    return widest


def _row_blocks(
    layouts: list[tuple[str, Iterator[list], list[int], int, list[str]]],
    width: int,
    kinds: dict,
    date1904: bool,
    size: int = 20000,
    with_sheet: bool = False,
    padded: dict[str, list[str]] | None = None,
) -> Iterator[tuple[Block, list[BadRecord]]]:
    """Worksheet rows (after each sheet's header) -> blocks of ``size`` records.

    ``layouts``: per sheet, its title, its remaining rows, the position of each of its
    cells in the extract's header, the row number of its first record and its own header's
    ``record_labels`` (a row wider than its sheet's header is quarantined under those). A number cell
    that cannot be what its column holds (see ``_xlsx_cell``) makes its row a
    ``BadRecord`` naming column and reason. Cells of a column that needs no conversion
    (text, money, codes...) take the plain text path. ``padded`` receives, per column,
    the rows (``sheet!row``) whose number cell got its leading zeros back.
    """

    def flush(buffer: list[list[str]], numbers: list[int], sheet_names: list[str]) -> Block:
        columns = [pa.array([r[i] for r in buffer], pa.string()) for i in range(width)]
        sheets = pa.array(sheet_names, pa.string()) if with_sheet else None
        return Block(columns, np.array(numbers, dtype=np.int64), sheets)

    buffer: list[list[str]] = []
    numbers: list[int] = []
    sheet_names: list[str] = []
    bad: list[BadRecord] = []
    special = {pos for pos, column in kinds.items() if column.type in ("date", "resident_id", "text")}
    for title, cells, order, first_record, labels in layouts:
        sheet = title if with_sheet else None
        targets = [(i, order[i], kinds[order[i]] if order[i] in special else None) for i in range(len(order))]
        for row_number, values in enumerate(cells, start=first_record):
            texts = [_cell_text(v) for v in values]
            used = len(texts)
            while used and not texts[used - 1].strip():
                used -= 1
            if not used:
                continue  # empty spreadsheet row
            if used > len(order):
                reason = f"row has {used} fields, the header has {len(order)}"
                bad.append(BadRecord(row_number, {label_at(labels, i): texts[i] for i in range(used)}, reason, sheet))
                continue
            row = [""] * width
            problem = None
            for i, position, column in targets[: len(texts)]:
                value = values[i]
                if column is None or isinstance(value, str | bool) or not isinstance(value, int | float):
                    row[position] = texts[i]
                    continue
                try:
                    row[position] = _xlsx_cell(value, column, date1904)
                except (ValueError, ArithmeticError) as exc:  # a cell is one row's problem, never the batch's
                    problem = problem or f"{column.name}: {exc}"
                    row[position] = texts[i]
                    continue
                if padded is not None and column.width and row[position] != texts[i]:
                    padded.setdefault(column.name, []).append(f"{title}!{row_number}" if sheet else str(row_number))
            if problem:
                bad.append(BadRecord(row_number, row, problem, sheet))
                continue
            buffer.append(row)
            numbers.append(row_number)
            sheet_names.append(title)
            if len(buffer) >= size:
                yield flush(buffer, numbers, sheet_names), bad
                buffer, numbers, sheet_names, bad = [], [], [], []
    if buffer or bad:
        yield flush(buffer, numbers, sheet_names), bad


def open_extract(path: Path, contract: Contract, careful: bool = False) -> Extract:
    """Open an extract for reading; the caller must ``close()`` it.

    Raises ``BatchRejected`` for an empty file, an unusable encoding or header. The
    blocks of a CSV file may raise ``ReadAgainCarefully``: open it again with
    ``careful=True`` (record by record, damage confined to its line) and read it anew.
    """
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        return _open_xlsx(path, contract)
    return _open_csv(path, contract, careful)
