"""The seven other departments' extracts of the sample county (employment, civil affairs,
disability, education, housing and water, agriculture, public-welfare jobs).

Proportions are plausible for a rural county in southern Xinjiang, not measured:
about half the working-age adults with full labour capacity are employed (40 % in
the county, 30 % elsewhere in the province, 30 % out of the province), a fifth of
working-age women pick cotton in October, one household in seven receives the
minimum living allowance, 6 % of persons hold a disability certificate, children
of 6 to 18 are at school, 8 % of households hold a public-welfare job, and every
household has an agricultural income line for the previous year.

Each department sends a catch-up extract on the first date (its records so far)
and then daily extracts with new records. The figures of S1 (household A's
income) and S3 (46 workers recruited in May and starting in September; a worker
who leaves his job and is re-employed) are embedded in fixed records.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from household_monitoring.sample_data.generator import _fen

#: S3: the township whose workers a company in another province recruits.
S3_TOWNSHIP = "653129200"
S3_EMPLOYER = "江苏锦程纺织有限公司"
S3_RECRUITED_ON = date(2024, 5, 20)
S3_START = date(2024, 9, 2)  # the start records arrive; work began on 2024-09-01
S3_WORKERS = 46
S3_LOADER_LEFT = date(2024, 9, 10)  # end-of-employment record (last day 2024-09-08)
S3_LOADER_REHIRED = date(2024, 9, 20)  # re-employed at 3,200 yuan a month
S3_LOADING_COMPANY = "伽师县顺达装卸有限公司"

#: S1's income facts (yuan), confirmed at the home visit.
S1_FATHER_WAGE = "1500.00"
S1_MOTHER_COTTON = "6000.00"  # October of the previous year, one month
S1_ALLOWANCE_MONTHLY = "520.00"  # minimum living allowance, 12 payments = 6,240.00
S1_WELFARE_JOB_PAY = "800.00"  # since April
S1_LAND_TRANSFER = "2400.00"
S1_SUBSIDY = "1200.00"

EMPLOYMENT_HEADER = [
    "记录编号",
    "身份证号",
    "姓名",
    "用工单位",
    "就业地点",
    "就业状态",
    "开始日期",
    "结束日期",
    "月工资",
    "登记日期",
]
ASSISTANCE_HEADER = ["发放编号", "户编号", "救助类别", "发放金额", "发放日期", "纳入日期"]
DISABILITY_HEADER = ["残疾证号", "身份证号", "残疾类别", "残疾等级", "发证日期"]
EDUCATION_HEADER = ["学籍记录号", "身份证号", "学校名称", "学段", "在校状态", "资助金额", "登记日期"]
HOUSING_HEADER = ["户编号", "住房安全等级", "饮水安全", "鉴定日期"]
AGRICULTURE_HEADER = ["户编号", "年度", "耕地面积（亩）", "主要作物", "种植业纯收入", "养殖业纯收入", "土地流转收入"]
WELFARE_HEADER = ["岗位编号", "身份证号", "岗位名称", "月补贴标准", "上岗日期", "离岗日期"]

_EMPLOYERS = {
    "县内": ["伽师县新梅纺织厂", "伽师县瓜果合作社", "伽师县建筑安装公司"],
    "省内县外": ["喀什经济开发区服装厂", "阿克苏棉纺有限公司", "乌鲁木齐物流园"],
    "省外": ["江苏华纶服饰有限公司", "广东华立电子厂", "浙江义乌小商品公司"],
}
_POSTS = ["护路员", "保洁员", "护林员", "水管员", "村级信息员"]


@dataclass
class _Writer:
    """Rows per (source, delivery date), written at the end as the department's format."""

    landing: Path
    start: date
    end: date

    def __post_init__(self):
        self.rows: dict[tuple[str, date], list[list[str]]] = defaultdict(list)

    def add(self, source: str, delivered: date, row: list[str]) -> None:
        """Deliver ``row`` with the extract of ``delivered`` (or the first date, if earlier)."""
        day = max(delivered, self.start)
        if day <= self.end:
            self.rows[(source, day)].append(row)

    def write(self, headers: dict[str, list[str]], formats: dict[str, str]) -> dict[str, list[Path]]:
        files: dict[str, list[Path]] = defaultdict(list)
        for (source, day), rows in sorted(self.rows.items()):
            folder = self.landing / source / day.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            fmt = formats[source]
            if fmt == "xlsx":
                path = folder / f"{source}_{day:%Y%m%d}.xlsx"
                _write_xlsx(path, headers[source], rows)
            else:
                path = folder / f"{source}_{day:%Y%m%d}.csv"
                with open(path, "w", encoding=fmt, newline="") as fh:
                    writer = csv.writer(fh, lineterminator="\r\n")
                    writer.writerow(headers[source])
                    writer.writerows(rows)
            files[source].append(path)
        return files


def _write_xlsx(path: Path, header: list[str], rows: list[list[str]]) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("数据")
    sheet.append(header)
    for row in rows:
        # Numbers as numbers, as Excel users type them; the rest as text.
        sheet.append([_excel_value(v) for v in row])
    book.save(path)


def _excel_value(value: str):
    try:
        return int(value) if value.isdigit() and len(value) < 6 else float(value) if "." in value else value
    except ValueError:
        return value


def write_departments(
    landing: Path, county: list, start: date, end: date, rng: random.Random, scenario_ids: set[str]
) -> dict[str, list[Path]]:
    """Write the seven departments' extracts for ``start``..``end``; return the files by source."""
    out = _Writer(landing, start, end)
    as_of = start
    s1 = county[0]
    father, mother = s1.members[0], s1.members[1]
    year_ago = as_of - timedelta(days=365)
    new_id = _counter()

    # --- S1: household A's income facts.
    out.add(
        "employment",
        as_of,
        [
            new_id("JY"),
            father.person_id,
            father.name,
            "伽师县瓜果合作社",
            "县内",
            "在岗",
            "2022-01-01",
            "",
            S1_FATHER_WAGE,
            "2022-01-05",
        ],
    )
    cotton = date(as_of.year - 1, 10, 1)
    out.add(
        "employment",
        as_of,
        [
            new_id("JY"),
            mother.person_id,
            mother.name,
            "伽师县棉花拾花队",
            "县内",
            "在岗",
            cotton.isoformat(),
            date(as_of.year - 1, 10, 31).isoformat(),
            S1_MOTHER_COTTON,
            cotton.isoformat(),
        ],
    )
    latest_payment = date(as_of.year, as_of.month, 10)
    if latest_payment > as_of:
        latest_payment = _add_months(latest_payment, -1)
    for month in range(12):  # the last 12 monthly payments
        paid = _add_months(latest_payment, -month)
        out.add(
            "social_assistance",
            as_of,
            [new_id("FF"), s1.household_id, "低保", S1_ALLOWANCE_MONTHLY, paid.isoformat(), "2021-03-01"],
        )
    out.add(
        "social_assistance",
        as_of,
        [new_id("FF"), s1.household_id, "耕地地力保护补贴", S1_SUBSIDY, date(as_of.year, 3, 15).isoformat(), ""],
    )
    out.add(
        "public_welfare_jobs",
        as_of,
        [new_id("GY"), mother.person_id, "保洁员", S1_WELFARE_JOB_PAY, date(as_of.year, 4, 1).isoformat(), ""],
    )
    out.add(
        "agriculture_income",
        as_of,
        [s1.household_id, str(as_of.year - 1), "6.50", "棉花", "0.00", "0.00", S1_LAND_TRANSFER],
    )

    # --- S2: each head has a steady wage (2,000 yuan a month since 2022), so the households are
    # above 1.5 x the monitoring line and only the medical thresholds speak for them.
    for household in county[1:]:
        if household.household_id not in scenario_ids:
            break
        head = household.members[0]
        out.add(
            "employment",
            as_of,
            [
                new_id("JY"),
                head.person_id,
                head.name,
                "伽师县瓜果合作社",
                "县内",
                "在岗",
                "2022-01-01",
                "",
                "2000.00",
                "2022-01-05",
            ],
        )

    # --- S3: 46 workers of one township recruited in May by a company out of the province.
    township = [h for h in county if h.village_code.startswith(S3_TOWNSHIP) and h.household_id not in scenario_ids]
    workers = [
        p
        for h in township
        for p in h.members
        if p.labour in ("普通劳动力", "技能劳动力") and 18 <= as_of.year - p.birth.year <= 50
    ][:S3_WORKERS]
    if len(workers) < S3_WORKERS:
        raise ValueError(f"the sample county is too small for S3: {len(workers)} workers in township {S3_TOWNSHIP}")
    for p in workers:
        out.add(
            "employment",
            S3_RECRUITED_ON,
            [
                new_id("JY"),
                p.person_id,
                p.name,
                S3_EMPLOYER,
                "省外",
                "已招聘待上岗",
                "2024-06-01",
                "",
                "4200.00",
                S3_RECRUITED_ON.isoformat(),
            ],
        )
        out.add(
            "employment",
            S3_START,
            [
                new_id("JY"),
                p.person_id,
                p.name,
                S3_EMPLOYER,
                "省外",
                "在岗",
                "2024-09-01",
                "",
                "4200.00",
                S3_START.isoformat(),
            ],
        )
    loader_household = next(
        h
        for h in county
        if h.household_id not in scenario_ids
        and h.village_code.startswith("653129101")
        and any(m.labour == "普通劳动力" for m in h.members)
    )
    loader = next(m for m in loader_household.members if m.labour == "普通劳动力")
    out.add(
        "employment",
        as_of,
        [
            new_id("JY"),
            loader.person_id,
            loader.name,
            S3_LOADING_COMPANY,
            "县内",
            "在岗",
            "2023-03-01",
            "",
            "2600.00",
            "2023-03-01",
        ],
    )
    out.add(
        "employment",
        S3_LOADER_LEFT,
        [
            new_id("JY"),
            loader.person_id,
            loader.name,
            S3_LOADING_COMPANY,
            "县内",
            "离岗",
            "2023-03-01",
            "2024-09-08",
            "2600.00",
            S3_LOADER_LEFT.isoformat(),
        ],
    )
    out.add(
        "employment",
        S3_LOADER_REHIRED,
        [
            new_id("JY"),
            loader.person_id,
            loader.name,
            "伽师县建筑安装公司",
            "县内",
            "在岗",
            S3_LOADER_REHIRED.isoformat(),
            "",
            "3200.00",
            S3_LOADER_REHIRED.isoformat(),
        ],
    )
    # Nobody else in the loader's household works: his job loss leaves it without employment (S3).
    busy = {p.person_id for p in workers} | {m.person_id for m in loader_household.members}

    # --- Everyone else.
    for hh in county:
        if hh.household_id in scenario_ids:
            continue
        for p in hh.members:
            age = as_of.year - p.birth.year
            if p.person_id not in busy and 18 <= age < 60 and p.labour in ("普通劳动力", "技能劳动力"):
                if rng.random() < 0.5:
                    place = rng.choices(list(_EMPLOYERS), [0.4, 0.3, 0.3])[0]
                    began = year_ago - timedelta(days=rng.randint(0, 900))
                    wage = rng.randint(1500, 4500) * 100
                    out.add(
                        "employment",
                        as_of,
                        [
                            new_id("JY"),
                            p.person_id,
                            p.name,
                            rng.choice(_EMPLOYERS[place]),
                            place,
                            "在岗",
                            began.isoformat(),
                            "",
                            _fen(wage),
                            began.isoformat(),
                        ],
                    )
                elif p.sex == "女" and rng.random() < 0.4:  # cotton picking last October
                    out.add(
                        "employment",
                        as_of,
                        [
                            new_id("JY"),
                            p.person_id,
                            p.name,
                            "伽师县棉花拾花队",
                            "县内",
                            "在岗",
                            cotton.isoformat(),
                            date(as_of.year - 1, 10, 31).isoformat(),
                            _fen(rng.randint(2500, 6500) * 100),
                            cotton.isoformat(),
                        ],
                    )
            if rng.random() < 0.06:
                issued = as_of - timedelta(days=rng.randint(30, 3000))
                out.add(
                    "disability",
                    as_of,
                    [
                        new_id("CJ"),
                        p.person_id,
                        rng.choice(["视力", "听力", "言语", "肢体", "智力", "精神", "多重"]),
                        rng.choice(["一级", "二级", "三级", "四级"]),
                        issued.isoformat(),
                    ],
                )
            if 6 <= age <= 18:
                stage = "小学" if age <= 12 else "初中" if age <= 15 else "高中"
                status = "辍学" if rng.random() < 0.005 else "在校"
                aid = "0.00" if rng.random() < 0.6 else _fen(rng.choice([50000, 100000, 200000]))
                out.add(
                    "education",
                    as_of,
                    [
                        new_id("XJ"),
                        p.person_id,
                        f"伽师县第{rng.randint(1, 9)}{stage[:2]}",
                        stage,
                        status,
                        aid,
                        date(as_of.year - 1, 9, 1).isoformat(),
                    ],
                )
        rating = rng.choices(["A", "B", "C", "D"], [0.7, 0.22, 0.06, 0.02])[0]
        out.add(
            "housing_water",
            as_of,
            [
                hh.household_id,
                rating,
                "否" if rng.random() < 0.02 else "是",
                (as_of - timedelta(days=rng.randint(30, 700))).isoformat(),
            ],
        )
        out.add(
            "agriculture_income",
            as_of,
            [
                hh.household_id,
                str(as_of.year - 1),
                f"{rng.uniform(2, 30):.2f}",
                rng.choice(["棉花", "小麦", "玉米", "红枣"]),
                _fen(rng.randint(1000, 8000) * 100),
                _fen(rng.choice([0, 0, rng.randint(500, 5000)]) * 100),
                _fen(rng.choice([0, 0, 0, rng.randint(500, 3000)]) * 100),
            ],
        )
        if (hh.category in ("脱贫不稳定户", "边缘易致贫户") and rng.random() < 0.5) or rng.random() < 0.08:
            monthly = rng.randint(300, 600) * 100 * 1
            enrolled = as_of - timedelta(days=rng.randint(60, 1500))
            for month in range(12):
                paid = _add_months(date(as_of.year, as_of.month, 10), -month - 1)
                if paid >= enrolled:
                    out.add(
                        "social_assistance",
                        as_of,
                        [new_id("FF"), hh.household_id, "低保", _fen(monthly), paid.isoformat(), enrolled.isoformat()],
                    )
        if rng.random() < 0.08:
            holder = rng.choice(hh.members)
            if 18 <= as_of.year - holder.birth.year < 60:
                began = as_of - timedelta(days=rng.randint(30, 700))
                out.add(
                    "public_welfare_jobs",
                    as_of,
                    [
                        new_id("GY"),
                        holder.person_id,
                        rng.choice(_POSTS),
                        _fen(rng.choice([50000, 60000, 80000, 100000])),
                        began.isoformat(),
                        "",
                    ],
                )
    return out.write(
        {
            "employment": EMPLOYMENT_HEADER,
            "social_assistance": ASSISTANCE_HEADER,
            "disability": DISABILITY_HEADER,
            "education": EDUCATION_HEADER,
            "housing_water": HOUSING_HEADER,
            "agriculture_income": AGRICULTURE_HEADER,
            "public_welfare_jobs": WELFARE_HEADER,
        },
        {
            "employment": "utf-8",
            "social_assistance": "gbk",
            "disability": "utf-8",
            "education": "utf-8",
            "housing_water": "utf-8-sig",
            "agriculture_income": "xlsx",
            "public_welfare_jobs": "utf-8",
        },
    )


def _counter() -> Callable[[str], str]:
    counts: dict[str, int] = defaultdict(int)

    def new_id(prefix: str) -> str:
        counts[prefix] += 1
        return f"{prefix}653129{counts[prefix]:08d}"

    return new_id


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, min(day.day, 28))
