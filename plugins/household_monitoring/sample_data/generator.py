"""Synthetic county: departmental extracts as the departments send them, from 3,000 to 1,000,000 households.

Deterministic for a seed. The county is modelled on Jiashi County (653129): registered
households in six townships of six villages each, with invented names and resident
IDs that pass the GB 11643 check (``population``). The acceptance scenarios S1, S2
and S3 of ``shared/scenarios/SEED_CASES.md`` are embedded in fixed households and
records (:data:`SCENARIO_HOUSEHOLDS`, ``departments``) that random activity never
touches, at every size.

Files (``<landing>/<source>/<YYYY-MM-DD>/<source>_<YYYYMMDD>.csv``) are written for
every date of ``first .. end``, where ``first`` is the start of the history
(``history_start``, default the first logical date ``start``). Each department
delivers a record on the day it becomes known, at its own cadence (``departments``):
the register a full extract on the first date and on the 1st of each month;
settlements, job changes, visits, certificates, dropouts and assessments daily;
assistance payments monthly (the 10th); agricultural income yearly (January 15).
What a department knew before ``first`` (its register, jobs, certificates,
enrolments, assessments, last year's farm income, the last 12 payments) comes in
its first extract; settlements do not: the first settlement file carries that day's
settlements only, so its volume is a usual day's (a year of settlements is a year of
daily files: use ``history_start``).

Encodings are the departments': the register and housing assessments UTF-8 with BOM,
settlements and assistance GBK, agriculture an Excel workbook, the others UTF-8
(with Chinese headers). From :data:`CHEAP_ENCODING_FROM` households on, CSV files are
written in UTF-8 (the cheapest encoding every contract accepts) to keep a province's
generation in minutes.

A small, fixed share of medical rows (0.2 % of each file of 20 rows or more) carries
the defects departments really send (a wrong check digit, an amount written with a
decimal comma, out-of-pocket that does not balance) so the quarantine is exercised;
scenario rows are never damaged.
"""

from __future__ import annotations

import io
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from household_monitoring.sample_data.population import (
    COUNTY_CODE,
    NONE,
    ORDINARY,
    FixedPerson,
    Population,
    build_population,
)

COUNTY_NAME = "伽师县"
#: (township code suffix, township name). Invented village names follow "<township>第N村".
TOWNSHIPS = [
    ("100", "巴仁镇"),
    ("101", "西克尔库勒镇"),
    ("200", "夏普吐勒乡"),
    ("201", "卧里托格拉克乡"),
    ("202", "江巴孜乡"),
    ("203", "英买里乡"),
]
VILLAGES_PER_TOWNSHIP = 6
VILLAGES = [f"{COUNTY_CODE}{t}{v:03d}" for t, _ in TOWNSHIPS for v in range(1, VILLAGES_PER_TOWNSHIP + 1)]

#: Default dates: D1 (the S1 settlement arrives), D2 (the S1 home visit).
D1 = date(2024, 7, 15)
D2 = date(2024, 7, 17)
DEFAULT_START, DEFAULT_END = D1, date(2024, 7, 17)
#: Households per village at most (household numbers are the village code and 4 digits).
MAX_PER_VILLAGE = 9000


def villages_for(households: int) -> list[str]:
    """The sample's 36 villages; more per township for a province.

    Above 36 x :data:`MAX_PER_VILLAGE` households each township gets as many villages as
    keep them under that size (codes 653129TTT001 ..; 19 per township, 114 villages, at
    1,000,000 households). ``seeds/admin_divisions.csv`` lists the villages of every
    size up to 1,000,000 households (the benchmark's province): a village missing there
    fails the register's ``relationships`` test. A larger sample needs its villages
    added to the seed, as a real province adds its divisions.
    """
    per_township = max(VILLAGES_PER_TOWNSHIP, -(-households // (len(TOWNSHIPS) * MAX_PER_VILLAGE)))
    return [f"{COUNTY_CODE}{t}{v:03d}" for t, _ in TOWNSHIPS for v in range(1, per_township + 1)]


#: From this many households on, CSV files are written in UTF-8 whatever the department's usual encoding.
CHEAP_ENCODING_FROM = 50_000

S1_VILLAGE = "653129100001"
#: Household ids of the scenarios (text, 16 digits: village code + sequence).
SCENARIO_HOUSEHOLDS = {
    "S1": S1_VILLAGE + "9001",
    "S2_2000_00": S1_VILLAGE + "9002",
    "S2_2000_01": S1_VILLAGE + "9003",
    "S2_3000_00": S1_VILLAGE + "9004",
    "S2_3000_01": S1_VILLAGE + "9005",
    "S2_1200_900": S1_VILLAGE + "9006",
}
#: S1's settlement, yuan (the county platform's figures).
S1_SETTLEMENT = {
    "total_cost": "31562.40",
    "basic_insurance": "15781.20",
    "critical_illness_insurance": "3156.24",
    "medical_assistance": "2306.78",
    "out_of_pocket": "10318.18",
}
#: S2: household out-of-pocket settlements (yuan) and the expected warning level.
S2_CASES = {
    "S2_2000_00": (["2000.00"], None),
    "S2_2000_01": (["2000.01"], "yellow"),
    "S2_3000_00": (["3000.00"], "yellow"),
    "S2_3000_01": (["3000.01"], "red"),
    "S2_1200_900": (["1200.00", "900.00"], "yellow"),
}
S1_VERIFIER = "阿卜杜热合曼·买买提"
#: S1's home-visit note, as an official types it: with the household head's name and resident ID
#: (synthetic), which staging redacts before the marts (macros/redact_personal_data.sql).
S1_NOTE = (
    "户主艾山·依明（身份证653129198803120013）：孩子术后恢复良好；"
    "父亲月工资1500元，母亲拾棉花收入6000元以上，享受低保，公益岗位，土地收入2400元；无返贫风险"
)

REGISTER_HEADER = [
    "户编号",
    "身份证号",
    "姓名",
    "与户主关系",
    "性别",
    "出生日期",
    "村代码",
    "户类型",
    "劳动技能",
    "人员状态",
    "变更日期",
]
#: Days before the first extract date that the sample's one deceased member died; a hospital
#: settlement after that date is the "trouble data" the discrepancy mart must find.
DECEASED_DAYS_BEFORE_START = 45
MEDICAL_HEADER = [
    "结算单号",
    "身份证号",
    "姓名",
    "医疗机构名称",
    "入院日期",
    "出院日期",
    "医疗总费用",
    "基本医保统筹支付",
    "大病保险支付",
    "医疗救助支付",
    "个人自付",
]
VERIFICATION_HEADER = ["核查编号", "户编号", "核查日期", "核查人", "核查结论", "核查说明", "核实家庭年纯收入"]


@dataclass(frozen=True)
class ScenarioDates:
    """Where the scenarios sit in a date range: S1/S2 raised on ``d1``, S1 visited on ``d2``.

    ``d1`` is :data:`D1` when the range holds D1 and D2, else the range's first date;
    ``d2`` is two days later (``None`` when after the range: S1 then stays awaiting a visit).
    """

    d1: date
    d2: date | None

    @classmethod
    def within(cls, first: date, end: date) -> ScenarioDates:
        if first <= D1 and end >= D2:
            return cls(D1, D2)
        d2 = first + (D2 - D1)
        return cls(first, d2 if d2 <= end else None)

    def describe(self) -> str:
        visit = f"S1 visited {self.d2}" if self.d2 else "S1's visit after the range (S1 stays awaiting a visit)"
        return f"S1/S2 settlements on {self.d1}, {visit}"


@dataclass
class SampleCounty:
    """What the generator wrote: the population, the files by source, the scenario dates."""

    population: Population
    files: dict[str, list[Path]]
    scenario_dates: ScenarioDates

    @property
    def households(self) -> int:
        return self.population.households


def _scenario_households() -> list[tuple[str, str, str, list[FixedPerson]]]:
    """S1's household A (father, mother, son 5, daughter 8) and the five S2 households (two adults)."""
    s1 = [
        FixedPerson("户主", "男", date(1988, 3, 12), ORDINARY, "艾山·依明"),
        FixedPerson("配偶", "女", date(1990, 9, 2), ORDINARY, "阿依古丽·托合提"),
        FixedPerson("之子", "男", date(2019, 2, 20), NONE, "亚森·艾山"),
        FixedPerson("之女", "女", date(2016, 5, 8), NONE, "古丽·艾山"),
    ]
    out = [(SCENARIO_HOUSEHOLDS["S1"], S1_VILLAGE, "边缘易致贫户", s1)]
    for i, key in enumerate(S2_CASES, start=1):
        members = [
            FixedPerson("户主", "男", date(1970, 1, 1 + i), ORDINARY, f"测试户{i}·户主"),
            FixedPerson("配偶", "女", date(1972, 6, 1 + i), ORDINARY, f"测试户{i}·配偶"),
        ]
        out.append((SCENARIO_HOUSEHOLDS[key], S1_VILLAGE, "脱贫户", members))
    return out


# ---------------------------------------------------------------- column helpers


def fen_text(fen: np.ndarray) -> np.ndarray:
    """Amounts in fen (int) as yuan text with two decimals (``123456`` → ``'1234.56'``), an object array.

    Built with Arrow's string kernels (UTF-8, in C++): NumPy's fixed-width unicode
    arrays cost several times more for a province's millions of amounts.
    """
    fen = np.asarray(fen, dtype=np.int64)
    if not fen.size:
        return np.array([], dtype=object)
    yuan = pc.cast(pa.array(fen // 100), pa.string())
    cents = pc.utf8_lpad(pc.cast(pa.array(fen % 100), pa.string()), 2, "0")
    return pc.binary_join_element_wise(yuan, ".", cents, "").to_numpy(zero_copy_only=False)


def date_text(days: np.ndarray) -> np.ndarray:
    """datetime64[D] as ISO text; NaT as the empty string (an object array).

    Each distinct day is formatted once: a province's millions of dates hold a few
    thousand distinct days.
    """
    days = np.asarray(days, dtype="datetime64[D]")
    if not days.size:
        return np.array([], dtype=object)
    distinct, index = np.unique(days, return_inverse=True)
    text = np.datetime_as_string(distinct).astype(object)
    text[np.isnat(distinct)] = ""
    return text[index.reshape(days.shape)]


def day64(value: date) -> np.datetime64:
    return np.datetime64(value, "D")


@dataclass
class Extracts:
    """Rows per source with their delivery dates, written at the end in the department's format.

    ``add`` takes the source's columns (header order, equal-length arrays of text) and
    the delivery date of each row; a row known before the first date is delivered on
    the first date, a row known after the last date is not delivered.
    """

    landing: Path
    first: date
    end: date
    parts: dict[str, list[tuple[list[np.ndarray], np.ndarray]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, source: str, columns: list, delivered) -> None:
        n = len(columns[0])
        delivered = np.broadcast_to(np.asarray(delivered, dtype="datetime64[D]"), (n,))
        delivered = np.maximum(delivered, day64(self.first))
        keep = delivered <= day64(self.end)
        cols = [np.broadcast_to(np.asarray(c, dtype=object), (n,))[keep] for c in columns]
        self.parts[source].append((cols, delivered[keep]))

    def table(self, source: str) -> tuple[list[np.ndarray], np.ndarray]:
        """All rows of ``source`` in delivery order (stable: earlier ``add`` calls first within a day)."""
        parts = self.parts.get(source, [])
        if not parts:
            return [], np.array([], dtype="datetime64[D]")
        columns = [np.concatenate([p[0][i] for p in parts]) for i in range(len(parts[0][0]))]
        delivered = np.concatenate([p[1] for p in parts])
        order = np.argsort(delivered, kind="stable")
        return [c[order] for c in columns], delivered[order]

    def write(self, source: str, header: list[str], fmt: str, columns=None, delivered=None) -> list[Path]:
        """Write one file per delivery date; ``fmt`` an encoding or ``xlsx``. Returns the paths."""
        if columns is None:
            columns, delivered = self.table(source)
        paths = []
        if not len(delivered):
            return paths
        days, starts = np.unique(delivered, return_index=True)
        bounds = np.r_[starts, len(delivered)]
        for i, day in enumerate(days.astype(object)):
            rows = [c[bounds[i] : bounds[i + 1]] for c in columns]
            folder = self.landing / source / day.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            if fmt == "xlsx":
                path = folder / f"{source}_{day:%Y%m%d}.xlsx"
                write_xlsx(path, header, rows)
            else:
                path = folder / f"{source}_{day:%Y%m%d}.csv"
                write_csv(path, header, rows, fmt)
            paths.append(path)
        return paths


def write_csv(path: Path, header: list[str], columns: list[np.ndarray], encoding: str) -> Path:
    """Arrow's CSV writer (CRLF, quoted text), then the department's encoding (``utf-8-sig``, ``gbk``...)."""
    table = pa.table(
        {
            name: pa.array(list(col) if len(col) < 64 else col, pa.string())
            for name, col in zip(header, columns, strict=True)
        }
    )
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(eol=b"\r\n", quoting_style="needed"))
    data = buffer.getvalue()
    if encoding not in ("utf-8", "utf8"):
        data = data.decode("utf-8").encode(encoding)
    path.write_bytes(data)
    return path


_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="数据" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def write_xlsx(path: Path, header: list[str], columns: list[np.ndarray]) -> Path:
    """An Excel workbook (Office Open XML), one sheet ``数据``; numbers as numbers, as Excel users type them.

    Written directly (inline strings, one sheet) rather than cell by cell through openpyxl,
    which takes minutes for a province's 1,000,000 rows; the sheet's XML is built with
    Arrow's string kernels (UTF-8, in C++), and its bytes go to the archive as they are.
    Texts are escaped for XML; a cell is a number when it is ASCII digits with at most
    one dot (amounts, years, areas), except a string of 6 digits or more (an ID stays text).
    """
    import zipfile
    from xml.sax.saxutils import escape

    letters = [chr(ord("A") + i) for i in range(len(header))]
    n = len(columns[0]) if columns else 0
    head = "".join(
        f'<c r="{letter}1" t="inlineStr"><is><t>{escape(name)}</t></is></c>'
        for letter, name in zip(letters, header, strict=True)
    )
    start = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        f'<row r="1">{head}</row>'
    )
    end = "</sheetData></worksheet>"
    body = b""
    if n:
        rows_number = pc.cast(pa.array(np.arange(2, n + 2)), pa.string())
        cells = []
        for letter, col in zip(letters, columns, strict=True):
            text = pa.array(np.asarray(col, dtype=object), pa.string())
            numeric = pc.and_(
                pc.match_substring_regex(text, r"^([0-9]+\.?[0-9]*|\.[0-9]+)$"),
                pc.invert(pc.match_substring_regex(text, r"^[0-9]{6,}$")),  # long digit strings stay text (IDs)
            )
            escaped = text
            for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
                escaped = pc.replace_substring(escaped, raw, entity)
            ref = f'<c r="{letter}'
            as_number = pc.binary_join_element_wise(ref, rows_number, '"><v>', text, "</v></c>", "")
            as_text = pc.binary_join_element_wise(
                ref, rows_number, '" t="inlineStr"><is><t>', escaped, "</t></is></c>", ""
            )
            cells.append(pc.if_else(numeric, as_number, as_text))
        rows = pc.binary_join_element_wise('<row r="', rows_number, '">', *cells, "</row>", "")
        # The values of a string array lie end to end in its data buffer: that is the sheet's body.
        offsets = np.frombuffer(rows.buffers()[1], np.int32)[rows.offset : rows.offset + n + 1]
        body = rows.buffers()[2][int(offsets[0]) : int(offsets[-1])]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        for name, xml in _XLSX_PARTS.items():
            book.writestr(name, xml)
        with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(start.encode("utf-8"))
            sheet.write(memoryview(body))
            sheet.write(end.encode("utf-8"))
    return path


@dataclass
class County:
    """Everything a department function needs: the population, the dates, its own random stream.

    ``rng(name)`` gives each department an independent stream (seeded from the seed and the
    department's name): adding a department never changes another's files. ``triggers``
    collects (household index, known-on date) of records that should draw a home visit.
    """

    population: Population
    first: date
    end: date
    seed: int
    scenario: ScenarioDates
    extracts: Extracts
    cheap: bool
    n_fixed: int
    triggers: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    #: known yearly income of each household (fen) from jobs, assistance and posts; farm income tops it up.
    income: np.ndarray | None = None
    #: persons (index) whose records the scenarios fix: random activity leaves them alone.
    reserved: np.ndarray | None = None
    deceased: int = -1

    def rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def encoding(self, usual: str) -> str:
        return "utf-8" if self.cheap and usual != "xlsx" else usual

    @property
    def days(self) -> np.ndarray:
        return np.arange(day64(self.first), day64(self.end) + 1)

    def random_households(self) -> np.ndarray:
        return np.arange(self.n_fixed, self.population.households)

    def random_persons(self) -> np.ndarray:
        """Persons of the random households, minus the reserved ones."""
        start = self.population.first_member[self.n_fixed] if self.population.households > self.n_fixed else 0
        persons = np.arange(start, self.population.persons)
        if self.reserved is not None and len(self.reserved):
            persons = persons[~np.isin(persons, self.reserved)]
        return persons


def generate_county(
    landing: Path,
    *,
    households: int = 3000,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    seed: int = 653129,
    defects: bool = True,
    history_start: date | None = None,
) -> SampleCounty:
    """Write the sample extracts for ``history_start`` (default ``start``) .. ``end`` into ``landing``.

    ``households`` counts the random households (the six scenario households come on
    top). The scenarios sit in the range as :class:`ScenarioDates` says: S1 and S2 on
    D1 (2024-07-15) when the range holds D1 and D2 (2024-07-17), else on the first
    date. ``defects`` damages 0.2 % of the medical rows of files of 20 rows or more.
    Existing files of the same names are overwritten: generating twice gives the same
    files. Raises ``ValueError`` when ``end`` is before the first date.
    """
    from household_monitoring.sample_data import departments

    first = history_start or start
    if end < first or start < first:
        raise ValueError(f"the range {first} .. {end} is empty or starts after the first logical date {start}")
    scenario = ScenarioDates.within(first, end)
    population = build_population(
        np.random.default_rng([seed, zlib.crc32(b"population")]),
        households,
        villages_for(households),
        first,
        _scenario_households(),
    )
    county = County(
        population=population,
        first=first,
        end=end,
        seed=seed,
        scenario=scenario,
        extracts=Extracts(landing, first, end),
        cheap=households >= CHEAP_ENCODING_FROM,
        n_fixed=len(SCENARIO_HOUSEHOLDS),
        income=np.zeros(population.households, dtype=np.int64),
    )
    files: dict[str, list[Path]] = {}
    for name, department in departments.DEPARTMENTS.items():
        written = department(county, defects=defects) if name == "medical_settlements" else department(county)
        if written:
            files[name] = written
    return SampleCounty(population, files, scenario)
