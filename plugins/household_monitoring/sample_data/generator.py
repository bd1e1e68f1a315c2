"""Synthetic county: departmental extracts as the departments send them.

Deterministic for a seed. The county is modelled on Jiashi County (653129): a few
thousand registered households in townships and villages, with invented names and
resident IDs that pass the GB 11643 check. The acceptance scenarios S1 and S2 of
``shared/scenarios/SEED_CASES.md`` are embedded in fixed households
(:data:`SCENARIO_HOUSEHOLDS`) that random activity never touches.

Files written (``<landing>/<source>/<YYYY-MM-DD>/<source>_<YYYYMMDD>.csv``):

- ``household_register``: UTF-8 with BOM, Chinese headers, a full extract on the
  first date;
- ``medical_settlements``: GBK, Chinese headers, one file per date (the first
  carries the settlements of the year so far);
- ``verifications``: UTF-8, Chinese headers, home visits of the households whose
  out-of-pocket spending crossed a threshold, one to three days after the warning;
- the seven other departments (``departments.py``): employment, social
  assistance (GBK), disability, education, housing and water (UTF-8 with BOM),
  agriculture (Excel .xlsx) and public-welfare jobs;
- ``village_officials`` (``officials.py``): the roster of officials who act on the
  warnings, on the first date.

A small, fixed share of medical rows carries the defects departments really send
(a wrong check digit, an amount that is not a number, out-of-pocket that does not
balance) so that the quarantine is exercised; scenario rows are never defective.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from stdnum.cn import ric

COUNTY_CODE = "653129"
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

#: Default dates: D1 (the S1 settlement arrives), D2 (the S1 home visit).
D1 = date(2024, 7, 15)
D2 = date(2024, 7, 17)
DEFAULT_START, DEFAULT_END = D1, date(2024, 7, 17)

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
S1_NOTE = "孩子术后恢复良好；父亲月工资1500元，母亲拾棉花收入6000元以上，享受低保，公益岗位，土地收入2400元；无返贫风险"

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

_SURNAMES = ["买买提", "艾力", "吐尔逊", "阿不都", "热合曼", "依明", "托合提", "库尔班", "司马义", "努尔"]
_MALE = ["艾山", "亚森", "阿迪力", "麦麦提", "吐逊", "伊力", "卡德尔", "艾合买提", "肉孜", "阿里木"]
_FEMALE = ["阿依古丽", "古丽", "帕提古丽", "热依拉", "阿瓦古丽", "布合丽且姆", "米热古丽", "再努尔", "海尼古丽"]
_HOSPITALS = ["伽师县人民医院", "伽师县维吾尔医医院", "喀什地区第一人民医院", "巴仁镇卫生院", "夏普吐勒乡卫生院"]
_CATEGORIES = [("脱贫户", 0.62), ("脱贫不稳定户", 0.08), ("边缘易致贫户", 0.12), ("一般农户", 0.18)]


@dataclass
class Person:
    person_id: str
    name: str
    relation: str
    sex: str
    birth: date
    labour: str


@dataclass
class Household:
    household_id: str
    village_code: str
    category: str
    members: list[Person] = field(default_factory=list)


@dataclass
class SampleCounty:
    """What the generator wrote: households, and files by source."""

    households: list[Household]
    files: dict[str, list[Path]]


class _Ids:
    """Unique valid resident IDs for the county (area 653129)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def new(self, birth: date, sex: str) -> str:
        while True:
            seq = self.rng.randrange(0, 500) * 2 + (1 if sex == "男" else 0)
            base = f"{COUNTY_CODE}{birth:%Y%m%d}{seq:03d}"
            number = base + ric.calc_check_digit(base + "0")
            if number not in self.used:
                self.used.add(number)
                return number


def _name(rng: random.Random, sex: str, family: str) -> str:
    given = rng.choice(_MALE if sex == "男" else _FEMALE)
    return f"{given}·{family}"


def _birth(rng: random.Random, as_of: date, age_min: int, age_max: int) -> date:
    age = rng.randint(age_min, age_max)
    return date(as_of.year - age, rng.randint(1, 12), rng.randint(1, 28))


def _labour(rng: random.Random, birth: date, as_of: date) -> str:
    age = as_of.year - birth.year
    if age < 16:
        return "无劳动力"
    if age >= 65:
        return rng.choice(["弱劳动力或半劳动力", "丧失劳动力"])
    return rng.choices(["普通劳动力", "技能劳动力", "弱劳动力或半劳动力", "丧失劳动力"], [0.78, 0.1, 0.08, 0.04])[0]


def _random_household(rng: random.Random, ids: _Ids, household_id: str, village: str, as_of: date) -> Household:
    category = rng.choices([c for c, _ in _CATEGORIES], [w for _, w in _CATEGORIES])[0]
    hh = Household(household_id, village, category)
    family = rng.choice(_SURNAMES)
    head_birth = _birth(rng, as_of, 24, 75)
    size = rng.choices([1, 2, 3, 4, 5, 6, 7], [0.06, 0.14, 0.2, 0.26, 0.2, 0.1, 0.04])[0]
    head = Person(ids.new(head_birth, "男"), _name(rng, "男", family), "户主", "男", head_birth, "")
    hh.members.append(head)
    if size >= 2:
        b = date(head_birth.year + rng.randint(-2, 5), rng.randint(1, 12), rng.randint(1, 28))
        hh.members.append(Person(ids.new(b, "女"), _name(rng, "女", rng.choice(_SURNAMES)), "配偶", "女", b, ""))
    for _ in range(size - len(hh.members)):
        sex = rng.choice(["男", "女"])
        b = date(min(as_of.year - 1, head_birth.year + rng.randint(20, 40)), rng.randint(1, 12), rng.randint(1, 28))
        hh.members.append(
            Person(ids.new(b, sex), _name(rng, sex, family), "之子" if sex == "男" else "之女", sex, b, "")
        )
    for p in hh.members:
        p.labour = _labour(rng, p.birth, as_of)
    return hh


def _scenario_households(ids: _Ids) -> list[Household]:
    """S1's household A (father, mother, son 5, daughter 8) and the five S2 households."""
    s1 = Household(SCENARIO_HOUSEHOLDS["S1"], S1_VILLAGE, "边缘易致贫户")
    for relation, sex, birth, labour, name in [
        ("户主", "男", date(1988, 3, 12), "普通劳动力", "艾山·依明"),
        ("配偶", "女", date(1990, 9, 2), "普通劳动力", "阿依古丽·托合提"),
        ("之子", "男", date(2019, 2, 20), "无劳动力", "亚森·艾山"),
        ("之女", "女", date(2016, 5, 8), "无劳动力", "古丽·艾山"),
    ]:
        s1.members.append(Person(ids.new(birth, sex), name, relation, sex, birth, labour))
    out = [s1]
    for key in S2_CASES:
        hh = Household(SCENARIO_HOUSEHOLDS[key], S1_VILLAGE, "脱贫户")
        birth = date(1970, 1, 1 + len(out))
        hh.members.append(Person(ids.new(birth, "男"), f"测试户{len(out)}·户主", "户主", "男", birth, "普通劳动力"))
        birth2 = date(1972, 6, 1 + len(out))
        hh.members.append(Person(ids.new(birth2, "女"), f"测试户{len(out)}·配偶", "配偶", "女", birth2, "普通劳动力"))
        out.append(hh)
    return out


def _fen(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


def _settlement(rng: random.Random, oop_target: int | None = None) -> dict[str, str]:
    """A settlement's amounts in yuan (two decimals) that balance exactly."""
    if oop_target is not None:
        total = oop_target * 3 + rng.randint(0, 50000)
        assistance = rng.randint(0, total - oop_target) // 4
        critical = 0
        basic = total - oop_target - assistance
        oop = oop_target
    else:
        total = int(rng.lognormvariate(7.2, 1.0) * 100)  # median ~1,340 yuan
        basic = int(total * rng.uniform(0.5, 0.75))
        critical = int((total - basic) * rng.uniform(0.3, 0.6)) if total > 2000000 else 0
        assistance = int((total - basic - critical) * rng.uniform(0.0, 0.5)) if rng.random() < 0.4 else 0
        oop = total - basic - critical - assistance
    return {
        "total_cost": _fen(total),
        "basic_insurance": _fen(basic),
        "critical_illness_insurance": _fen(critical),
        "medical_assistance": _fen(assistance),
        "out_of_pocket": _fen(oop),
    }


def _write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def generate_county(
    landing: Path,
    *,
    households: int = 3000,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    seed: int = 653129,
    defects: bool = True,
) -> SampleCounty:
    """Write the sample extracts for ``start``..``end`` into ``landing``.

    ``households`` counts the random households (the six scenario households come
    on top). ``defects`` adds the deliberately damaged medical rows (about 0.2 %).
    Returns the county that was written. Existing files of the same names are
    overwritten, so generating twice gives identical bytes.
    """
    if not start <= D1 <= D2 <= end:
        raise ValueError(f"the date range must contain D1={D1} and D2={D2}, got {start}..{end}")
    rng = random.Random(seed)
    ids = _Ids(rng)
    villages = [f"{COUNTY_CODE}{t}{v:03d}" for t, _ in TOWNSHIPS for v in range(1, VILLAGES_PER_TOWNSHIP + 1)]
    county: list[Household] = _scenario_households(ids)
    scenario_ids = {h.household_id for h in county}
    seq: dict[str, int] = defaultdict(int)
    for _ in range(households):
        village = rng.choice(villages)
        seq[village] += 1
        county.append(_random_household(rng, ids, f"{village}{seq[village]:04d}", village, start))

    files: dict[str, list[Path]] = defaultdict(list)
    # Household register: one full extract on the first date (UTF-8 with BOM).
    # A member of a random household of two or more, recorded as deceased (the household stays).
    deceased_household = next(h for h in reversed(county) if len(h.members) > 1 and h.household_id not in scenario_ids)
    deceased = deceased_household.members[-1]
    register_rows = [
        [
            h.household_id,
            p.person_id,
            p.name,
            p.relation,
            p.sex,
            p.birth.isoformat(),
            h.village_code,
            h.category,
            p.labour,
            "死亡" if p is deceased else "正常",
            (start - timedelta(days=DECEASED_DAYS_BEFORE_START)).isoformat() if p is deceased else "",
        ]
        for h in county
        for p in h.members
    ]
    files["household_register"].append(
        _write_csv(
            landing / "household_register" / start.isoformat() / f"household_register_{start:%Y%m%d}.csv",
            REGISTER_HEADER,
            register_rows,
            "utf-8-sig",
        )
    )

    # Medical settlements: the year so far on the first date, then daily (GBK).
    people = [(h, p) for h in county if h.household_id not in scenario_ids for p in h.members]
    oop_by_household: dict[str, list[tuple[date, int]]] = defaultdict(list)
    settlement_no = 0
    day = start
    while day <= end:
        rows: list[list[str]] = []

        def add(hh: Household, person: Person, discharge: date, amounts: dict[str, str], day=day, rows=rows) -> None:
            nonlocal settlement_no
            settlement_no += 1
            admission = discharge - timedelta(days=rng.randint(0, 12))
            rows.append(
                [
                    f"JS{COUNTY_CODE}{settlement_no:08d}",
                    person.person_id,
                    person.name,
                    rng.choice(_HOSPITALS),
                    admission.strftime("%Y-%m-%d"),
                    discharge.strftime("%Y-%m-%d"),
                    amounts["total_cost"],
                    amounts["basic_insurance"],
                    amounts["critical_illness_insurance"],
                    amounts["medical_assistance"],
                    amounts["out_of_pocket"],
                ]
            )
            oop_by_household[hh.household_id].append((day, _to_fen(amounts["out_of_pocket"])))

        if day == start:
            year_start = date(day.year, 1, 1)
            s1 = county[0]
            add(s1, s1.members[2], date(day.year, 5, 20), S1_SETTLEMENT)
            for key, (amounts, _level) in S2_CASES.items():
                hh = next(h for h in county if h.household_id == SCENARIO_HOUSEHOLDS[key])
                for i, oop in enumerate(amounts):
                    settlement = _settlement(rng, _to_fen(oop))
                    add(hh, hh.members[i % len(hh.members)], date(day.year, 3 + i, 10), settlement)
            # A settlement for the deceased member dated after the death (a contradiction between
            # the register and health insurance).
            add(deceased_household, deceased, start - timedelta(days=DECEASED_DAYS_BEFORE_START - 20), _settlement(rng))
            n_settlements = len(people) // 6  # half a year of inpatient and outpatient settlements
            span = (day - year_start).days
        else:
            n_settlements = max(1, len(people) // 400)
            span = 0
        for _ in range(n_settlements):
            hh, person = rng.choice(people)
            discharge = day - timedelta(days=rng.randint(1, span) if span else 1)
            add(hh, person, discharge, _settlement(rng))
        if defects:
            _damage(rng, rows, scenario_rows=(len(S2_CASES) + 3) if day == start else 0)
        files["medical_settlements"].append(
            _write_csv(
                landing / "medical_settlements" / day.isoformat() / f"medical_settlements_{day:%Y%m%d}.csv",
                MEDICAL_HEADER,
                rows,
                "gbk",
            )
        )
        day += timedelta(days=1)

    # Verifications: village officials visit households whose spending crossed 2,000 yuan.
    visits: dict[date, list[list[str]]] = defaultdict(list)
    visits[D2].append(
        [
            f"HC{D2:%Y%m%d}0001",
            SCENARIO_HOUSEHOLDS["S1"],
            D2.isoformat(),
            S1_VERIFIER,
            "无返贫致贫风险",
            S1_NOTE,
            "38400.00",
        ]
    )
    visit_no = 1
    for household_id, spending in sorted(oop_by_household.items()):
        if household_id in scenario_ids:
            continue
        total, crossed_on = 0, None
        for known_on, amount in sorted(spending):
            total += amount
            if total > 200000 and crossed_on is None:
                crossed_on = known_on
        if crossed_on is None:
            continue
        visit_day = crossed_on + timedelta(days=rng.randint(1, 4))
        if visit_day > end:
            continue
        visit_no += 1
        confirmed = rng.random() < 0.35
        visits[visit_day].append(
            [
                f"HC{visit_day:%Y%m%d}{visit_no:04d}",
                household_id,
                visit_day.isoformat(),
                _name(rng, "男", rng.choice(_SURNAMES)),
                "存在返贫致贫风险" if confirmed else "无返贫致贫风险",
                "医疗支出较大，家庭收入不足" if confirmed else "已报销，家庭收入稳定",
                "",
            ]
        )
    for visit_day, rows in sorted(visits.items()):
        files["verifications"].append(
            _write_csv(
                landing / "verifications" / visit_day.isoformat() / f"verifications_{visit_day:%Y%m%d}.csv",
                VERIFICATION_HEADER,
                rows,
                "utf-8",
            )
        )
    from household_monitoring.sample_data.departments import write_departments

    # A separate random stream: the other departments never change the files above.
    files.update(write_departments(landing, county, start, end, random.Random(seed + 1), scenario_ids))
    from household_monitoring.sample_data.officials import write_village_officials

    townships = [f"{COUNTY_CODE}{t}" for t, _ in TOWNSHIPS]
    files["village_officials"] = write_village_officials(
        landing, COUNTY_CODE, townships, villages, start, end, seed + 2
    )
    return SampleCounty(county, dict(files))


def _to_fen(amount: str) -> int:
    whole, _, cents = amount.partition(".")
    return int(whole) * 100 + int(cents or 0)


def _damage(rng: random.Random, rows: list[list[str]], scenario_rows: int) -> None:
    """Damage ~0.2 % of the rows (never the first ``scenario_rows``) as departments do."""
    candidates = list(range(scenario_rows, len(rows)))
    count = max(1, len(candidates) // 500) if len(candidates) >= 20 else 0  # a tiny file stays clean
    for n, i in enumerate(rng.sample(candidates, min(count, len(candidates)))):
        row = rows[i]
        kind = n % 3
        if kind == 0:  # a typing error in the ID: the check digit no longer matches
            last = row[1][-1]
            row[1] = row[1][:-1] + ("0" if last != "0" else "1")
        elif kind == 1:  # an amount typed with a comma as decimal separator
            row[6] = row[6].replace(".", ",")
        else:  # out-of-pocket that does not balance
            row[10] = _fen(_to_fen(row[10]) + 100)
