"""The departments of the sample county: one function per extract, each ``fn(county) -> [paths]``.

Adding a department is one function here and one entry in :data:`DEPARTMENTS`; each
draws from its own random stream (``county.rng(name)``), so it never changes the
other departments' files. Each function delivers its records at the department's
cadence (see ``generator``) and returns the files it wrote.

Rates are the sample's calibration (issue 13), chosen so that on an ordinary day a few
per cent of households hold an open warning, with plausible shares by factor; they are
invented for a rural county of southern Xinjiang, not measured, and README ("Sample
county") lists them with what they give:

- settlements: 0.6 outpatient (median cost 200 yuan) and 0.15 inpatient (median 4,000
  yuan) per person and year; the household pays what insurance and assistance leave;
- jobs: 72 % of working-age adults with full labour capacity employed; a job ends
  after 5 years on average, 80 % find another after 40 days on average; 40 % of the
  other working-age women pick cotton in October;
- minimum living allowance: 35 % of unstable and marginal households, 6 % of the
  others, 300–600 yuan a month; new enrolments 0.1 % of households a month;
- disability certificates: 5 % of persons, issued over 20 years; dropouts: 0.1 % of
  pupils, 0.2 % a year during the range;
- houses: A 72 %, B 27.35 %, C 0.5 %, D 0.15 %; unsafe water 0.2 %; a re-assessment every
  2 years on average;
- public-welfare jobs: 5 % of households;
- income: per-capita net income targeted at a log-normal with median 17,000 yuan
  (σ 0.32) and 0.4 % of households at 3,000–5,900 yuan; farm income makes up the
  difference to what the household earns from jobs, assistance and welfare posts;
- home visits: 90 % of the records that draw one (a spending threshold crossed, a
  job lost, a new severe certificate, a dropout, a C/D house or unsafe water, a new
  enrolment) are visited 1–4 days later; 20 % of visits confirm the risk.

The figures of S1 (household A's income), S2 (thresholds) and S3 (46 workers
recruited in May and starting in September; a loader who leaves his job and is
re-employed) are fixed records, the same at every size.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from household_monitoring.sample_data.generator import (
    DECEASED_DAYS_BEFORE_START,
    MEDICAL_HEADER,
    REGISTER_HEADER,
    S1_NOTE,
    S1_SETTLEMENT,
    S1_VERIFIER,
    S2_CASES,
    SCENARIO_HOUSEHOLDS,
    VERIFICATION_HEADER,
    County,
    date_text,
    day64,
    fen_text,
)
from household_monitoring.sample_data.officials import village_officials
from household_monitoring.sample_data.population import (
    LABOUR,
    MALE_NAMES,
    ORDINARY,
    SKILLED,
    SURNAMES,
    WEAK,
)

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

_PLACES = np.array(["县内", "省内县外", "省外"])
_EMPLOYERS = np.array(
    [
        ["伽师县新梅纺织厂", "伽师县瓜果合作社", "伽师县建筑安装公司"],
        ["喀什经济开发区服装厂", "阿克苏棉纺有限公司", "乌鲁木齐物流园"],
        ["江苏华纶服饰有限公司", "广东华立电子厂", "浙江义乌小商品公司"],
    ]
)
_POSTS = np.array(["护路员", "保洁员", "护林员", "水管员", "村级信息员"])
_HOSPITALS = np.array(
    ["伽师县人民医院", "伽师县维吾尔医医院", "喀什地区第一人民医院", "巴仁镇卫生院", "夏普吐勒乡卫生院"]
)
_WORKING = (ORDINARY, SKILLED)


def _ids(prefix: str, n: int, start: int = 1) -> np.ndarray:
    return np.char.add(f"{prefix}653129", np.char.zfill(np.arange(start, start + n).astype(str), 8)).astype(object)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, min(day.day, 28))


def _monthly(first: date, end: date, day_of_month: int) -> list[date]:
    """The ``day_of_month`` of every month in ``first`` (exclusive) .. ``end``."""
    out, d = [], date(first.year, first.month, day_of_month)
    while d <= end:
        if d > first:
            out.append(d)
        d = _add_months(d, 1)
    return out


def _events(rng: np.random.Generator, county: County, population: int, per_year: float):
    """Poisson events over the range: (row count per event, its day) for ``population`` units at ``per_year``."""
    days = county.days
    counts = rng.poisson(population * per_year / 365.0, len(days))
    return np.repeat(days, counts)


def _finish(county: County, source: str, header: list[str], fmt: str, id_prefix: str | None = None) -> list[Path]:
    columns, delivered = county.extracts.table(source)
    if id_prefix and columns:
        columns[0] = _ids(id_prefix, len(delivered))
    return county.extracts.write(source, header, county.encoding(fmt), columns, delivered)


def _names(rng: np.random.Generator, n: int) -> np.ndarray:
    given = MALE_NAMES[rng.integers(0, len(MALE_NAMES), n)]
    return np.char.add(np.char.add(given, "·"), SURNAMES[rng.integers(0, len(SURNAMES), n)]).astype(object)


# ---------------------------------------------------------------- household register


def household_register(county: County) -> list[Path]:
    """Full extract on the first date and the 1st of each month (UTF-8 with BOM).

    One member of a random household of two or more is recorded as deceased
    :data:`DECEASED_DAYS_BEFORE_START` days before the first date (the household stays).
    """
    pop = county.population
    random_hh = county.random_households()
    several = random_hh[pop.size[random_hh] > 1]
    if len(several):
        h = several[-1]
        county.deceased = int(pop.first_member[h] + pop.size[h] - 1)
        pop.status[county.deceased] = "死亡"
        pop.status_date[county.deceased] = (county.first - timedelta(days=DECEASED_DAYS_BEFORE_START)).isoformat()
    columns = [
        pop.household_id[pop.household],
        pop.person_id,
        pop.name,
        pop.relation,
        pop.sex,
        date_text(pop.birth),
        pop.village[pop.household],
        pop.category[pop.household],
        LABOUR[pop.labour].astype(object),
        pop.status,
        pop.status_date,
    ]
    # The same persons every month: the first extract's bytes, copied to each month's folder.
    paths = county.extracts.write(
        "household_register",
        REGISTER_HEADER,
        county.encoding("utf-8-sig"),
        columns,
        np.full(pop.persons, day64(county.first)),
    )
    for day in _monthly(county.first, county.end, 1):
        folder = county.extracts.landing / "household_register" / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(folder / f"household_register_{day:%Y%m%d}.csv")
        paths[-1].write_bytes(paths[0].read_bytes())
    return paths


# ---------------------------------------------------------------- medical settlements


def _balanced(rng: np.random.Generator, total: np.ndarray):
    """Reimbursements of settlements of ``total`` fen: (basic, critical illness, assistance, out of pocket)."""
    n = len(total)
    basic = (total * rng.uniform(0.5, 0.75, n)).astype(np.int64)
    critical = np.where(total > 2_000_000, ((total - basic) * rng.uniform(0.3, 0.6, n)).astype(np.int64), 0)
    assisted = rng.random(n) < 0.4
    assistance = np.where(assisted, ((total - basic - critical) * rng.uniform(0.0, 0.5, n)).astype(np.int64), 0)
    return basic, critical, assistance, total - basic - critical - assistance


def medical_settlements(county: County, defects: bool = True) -> list[Path]:
    """Daily settlements (GBK); the scenario settlements of S1 and S2 first in the file of D1.

    The first file carries that day's settlements (and the scenarios'), never the year
    so far. Households whose out-of-pocket spending in the calendar year crosses
    2,000 yuan draw a home visit (``county.triggers``).
    """
    rng = county.rng("medical_settlements")
    pop = county.population
    d1 = county.scenario.d1
    rows: list[list] = []  # scenario rows: person index, admission, discharge, amounts (text)
    s1_son = pop.first_member[0] + 2
    s1_discharge = min(date(d1.year, 5, 20), d1 - timedelta(days=30))
    amounts = [S1_SETTLEMENT[k] for k in ("total_cost", "basic_insurance", "critical_illness_insurance")]
    amounts += [S1_SETTLEMENT["medical_assistance"], S1_SETTLEMENT["out_of_pocket"]]
    rows.append([s1_son, s1_discharge - timedelta(days=int(rng.integers(0, 13))), s1_discharge, *amounts])
    for h, (key, (oops, _level)) in enumerate(S2_CASES.items(), start=1):
        assert pop.household_id[h] == SCENARIO_HOUSEHOLDS[key]
        for i, oop in enumerate(oops):
            oop_fen = int(oop.replace(".", ""))
            total = oop_fen * 3 + int(rng.integers(0, 50001))
            assistance = int(rng.integers(0, total - oop_fen + 1)) // 4
            basic = total - oop_fen - assistance
            discharge = min(date(d1.year, 3 + i, 10), d1 - timedelta(days=20 + i))
            admission = discharge - timedelta(days=int(rng.integers(0, 13)))
            person = pop.first_member[h] + i % pop.size[h]
            rows.append([person, admission, discharge, *fen_text([total, basic, 0, assistance, oop_fen])])
    scenario_persons = np.array([r[0] for r in rows])
    scenario_cols = [
        np.array([r[1] for r in rows], dtype="datetime64[D]"),
        np.array([r[2] for r in rows], dtype="datetime64[D]"),
        *[np.array([r[k] for r in rows], dtype=object) for k in range(3, 8)],
    ]
    _add_settlements(county, rng, scenario_persons, *scenario_cols, delivered=day64(d1))
    if county.deceased >= 0:  # a settlement after the death: a contradiction between two departments
        discharge = day64(county.first - timedelta(days=DECEASED_DAYS_BEFORE_START - 20))
        total = np.array([int(rng.lognormal(np.log(134_000), 1.0))])
        parts = _balanced(rng, total)
        _add_settlements(
            county,
            rng,
            np.array([county.deceased]),
            np.array([discharge - 3]),
            np.array([discharge]),
            *[fen_text(x).astype(object) for x in (total, *parts)],
            delivered=day64(county.first),
        )
    # Random settlements, daily: outpatient (same-day) and inpatient stays.
    persons = county.random_persons()
    if county.deceased >= 0:
        persons = persons[persons != county.deceased]
    for per_year, median, stay in ((0.6, 20_000, 0), (0.15, 400_000, 12)):
        day = _events(rng, county, len(persons), per_year)
        n = len(day)
        who = rng.choice(persons, n) if len(persons) else np.array([], dtype=np.int64)
        discharge = day - rng.integers(1, 11, n)
        admission = discharge - (rng.integers(0, stay + 1, n) if stay else 0)
        total = rng.lognormal(np.log(median), 0.8, n).astype(np.int64) + 100
        parts = _balanced(rng, total)
        _add_settlements(
            county,
            rng,
            who,
            admission,
            discharge,
            *[fen_text(x).astype(object) for x in (total, *parts)],
            delivered=day,
        )
    columns, delivered = county.extracts.table("medical_settlements")
    columns[0] = _ids("JS", len(delivered))
    scenario_rows = len(rows) + (1 if county.deceased >= 0 else 0)
    _visit_threshold_crossings(county, columns, delivered)
    if defects:
        _damage(rng, columns, delivered, scenario_rows)
    return county.extracts.write("medical_settlements", MEDICAL_HEADER, county.encoding("gbk"), columns, delivered)


def _add_settlements(county, rng, person, admission, discharge, total, basic, critical, assistance, oop, delivered):
    pop = county.population
    n = len(person)
    county.extracts.add(
        "medical_settlements",
        [
            np.full(n, "", dtype=object),
            pop.person_id[person],
            pop.name[person],
            _HOSPITALS[rng.integers(0, len(_HOSPITALS), n)].astype(object),
            date_text(admission),
            date_text(discharge),
            total,
            basic,
            critical,
            assistance,
            oop,
        ],
        delivered,
    )


def _visit_threshold_crossings(county: County, columns: list[np.ndarray], delivered: np.ndarray) -> None:
    """Households of random persons whose calendar-year out-of-pocket crosses 2,000 yuan: a visit trigger."""
    index = {pid: i for i, pid in enumerate(county.population.person_id)} if len(delivered) < 200_000 else None
    if index is not None:
        person = np.array([index[p] for p in columns[1]], dtype=np.int64)
    else:
        order = np.argsort(county.population.person_id)
        person = order[np.searchsorted(county.population.person_id[order], columns[1])]
    household = county.population.household[person]
    oop = np.char.replace(columns[10].astype(str), ".", "").astype(np.int64)
    year = delivered.astype("datetime64[Y]").astype(np.int64)
    key = household.astype(np.int64) * 10_000 + year
    order = np.lexsort((delivered, key))
    k, amounts = key[order], oop[order]
    cum = np.cumsum(amounts)
    starts = np.r_[0, np.flatnonzero(np.diff(k)) + 1]
    offset = np.repeat(np.r_[0, cum[starts[1:] - 1]], np.diff(np.r_[starts, len(k)]))
    running = cum - offset
    crossed = (running > 200_000) & (running - amounts <= 200_000)
    rows = order[crossed]
    random_rows = household[rows] >= county.n_fixed
    county.triggers.append((household[rows][random_rows], delivered[rows][random_rows]))


def _damage(rng: np.random.Generator, columns: list[np.ndarray], delivered: np.ndarray, scenario_rows: int) -> None:
    """Damage 0.2 % of the rows of each file of 20 rows or more (never the scenario rows) as departments do."""
    days, starts = np.unique(delivered, return_index=True)
    bounds = np.r_[starts, len(delivered)]
    for i in range(len(days)):
        lo = max(bounds[i], scenario_rows)
        candidates = np.arange(lo, bounds[i + 1])
        if len(candidates) < 20:
            continue
        picked = rng.choice(candidates, max(1, len(candidates) // 500), replace=False)
        for n, row in enumerate(np.sort(picked)):
            kind = n % 3
            if kind == 0:  # a typing error in the ID: the check digit no longer matches
                pid = columns[1][row]
                columns[1][row] = pid[:-1] + ("0" if pid[-1] != "0" else "1")
            elif kind == 1:  # an amount typed with a comma as decimal separator
                columns[6][row] = columns[6][row].replace(".", ",")
            else:  # out-of-pocket that does not balance
                fen = int(columns[10][row].replace(".", "")) + 100
                columns[10][row] = f"{fen // 100}.{fen % 100:02d}"


# ---------------------------------------------------------------- employment


def employment(county: County) -> list[Path]:
    """Jobs as the human-resources bureau records them (UTF-8): the roster in the first extract, then changes.

    Also fixes S1's and S2's jobs and S3 (46 recruited workers; the loader), and adds
    each household's yearly wages to ``county.income`` (fen).
    """
    rng = county.rng("employment")
    pop = county.population
    first = county.first
    ex = county.extracts
    age = pop.age_on(first)
    income = county.income

    def add(person, employer, place, status, start, end, wage, recorded, delivered) -> None:
        person = np.atleast_1d(person)
        n = len(person)
        ex.add(
            "employment",
            [
                np.full(n, "", dtype=object),
                pop.person_id[person],
                pop.name[person],
                np.broadcast_to(np.asarray(employer, dtype=object), (n,)),
                np.broadcast_to(np.asarray(place, dtype=object), (n,)),
                np.broadcast_to(np.asarray(status, dtype=object), (n,)),
                date_text(np.broadcast_to(np.asarray(start, dtype="datetime64[D]"), (n,))),
                date_text(np.broadcast_to(np.asarray(end, dtype="datetime64[D]"), (n,))),
                np.broadcast_to(np.asarray(wage, dtype=object), (n,)),
                date_text(np.broadcast_to(np.asarray(recorded, dtype="datetime64[D]"), (n,))),
            ],
            delivered,
        )

    nat = np.datetime64("NaT", "D")
    cotton, cotton_end = date(first.year - 1, 10, 1), date(first.year - 1, 10, 31)
    # S1: the father's steady wage, the mother's cotton picking last October.
    s1 = pop.first_member[0]
    add(s1, "伽师县瓜果合作社", "县内", "在岗", date(2022, 1, 1), nat, "1500.00", date(2022, 1, 5), day64(first))
    add(s1 + 1, "伽师县棉花拾花队", "县内", "在岗", cotton, cotton_end, "6000.00", cotton, day64(first))
    # S2: each head has a steady wage of 2,000 yuan a month since 2022: only the medical thresholds speak.
    for h in range(1, county.n_fixed):
        add(
            pop.first_member[h],
            "伽师县瓜果合作社",
            "县内",
            "在岗",
            date(2022, 1, 1),
            nat,
            "2000.00",
            date(2022, 1, 5),
            day64(first),
        )

    # S3: workers of one township recruited in May by a company out of the province.
    persons = county.random_persons()
    working = np.isin(pop.labour, _WORKING)
    township = (pop.village.astype(str).astype("U9") == S3_TOWNSHIP)[pop.household]  # per household, then person
    years = first.year - pop.birth.astype("datetime64[Y]").astype(int) - 1970
    eligible = persons[working[persons] & township[persons] & (years[persons] >= 18) & (years[persons] <= 50)]
    workers = eligible[:S3_WORKERS]
    if len(workers) < S3_WORKERS and len(pop.household_id) - county.n_fixed >= 400:
        raise ValueError(f"the sample county is too small for S3: {len(workers)} workers in township {S3_TOWNSHIP}")
    add(
        workers,
        S3_EMPLOYER,
        "省外",
        "已招聘待上岗",
        date(2024, 6, 1),
        nat,
        "4200.00",
        S3_RECRUITED_ON,
        day64(S3_RECRUITED_ON),
    )
    add(workers, S3_EMPLOYER, "省外", "在岗", date(2024, 9, 1), nat, "4200.00", S3_START, day64(S3_START))
    in_101 = (pop.village.astype(str).astype("U9") == "653129101")[pop.household]
    candidates = persons[(pop.labour[persons] == ORDINARY) & in_101[persons]]
    reserved = [workers]
    if len(candidates):
        loader = candidates[0]
        h = pop.household[loader]
        loader = (
            pop.first_member[h]
            + np.flatnonzero(pop.labour[pop.first_member[h] : pop.first_member[h] + pop.size[h]] == ORDINARY)[0]
        )
        add(
            loader, S3_LOADING_COMPANY, "县内", "在岗", date(2023, 3, 1), nat, "2600.00", date(2023, 3, 1), day64(first)
        )
        add(
            loader,
            S3_LOADING_COMPANY,
            "县内",
            "离岗",
            date(2023, 3, 1),
            date(2024, 9, 8),
            "2600.00",
            S3_LOADER_LEFT,
            day64(S3_LOADER_LEFT),
        )
        add(
            loader,
            "伽师县建筑安装公司",
            "县内",
            "在岗",
            S3_LOADER_REHIRED,
            nat,
            "3200.00",
            S3_LOADER_REHIRED,
            day64(S3_LOADER_REHIRED),
        )
        # Nobody else in the loader's household works: his job loss leaves it without employment (S3).
        reserved.append(np.arange(pop.first_member[h], pop.first_member[h] + pop.size[h]))
    county.reserved = np.concatenate(reserved)

    # Everyone else: the roster on the first date.
    persons = county.random_persons()
    persons = persons[persons != county.deceased]
    adults = persons[working[persons] & (age[persons] >= 18) & (age[persons] < 60)]
    employed_mask = rng.random(len(adults)) < 0.72
    employed = adults[employed_mask]
    n = len(employed)
    place = rng.choice(3, n, p=[0.4, 0.3, 0.3])
    employer = _EMPLOYERS[place, rng.integers(0, 3, n)].astype(object)
    began = day64(first) - 365 - rng.integers(0, 901, n)
    wage = rng.integers(1500, 4501, n) * 100
    add(
        employed,
        employer,
        _PLACES[place].astype(object),
        "在岗",
        began,
        nat,
        fen_text(wage).astype(object),
        began,
        day64(first),
    )
    np.add.at(income, pop.household[employed], wage * 12)
    others = adults[~employed_mask]
    pickers = others[(pop.sex[others] == "女") & (rng.random(len(others)) < 0.4)]
    pay = rng.integers(2500, 6501, len(pickers)) * 100
    add(
        pickers,
        "伽师县棉花拾花队",
        "县内",
        "在岗",
        cotton,
        cotton_end,
        fen_text(pay).astype(object),
        cotton,
        day64(first),
    )
    np.add.at(income, pop.household[pickers], pay)

    # Changes in the range: a job ends (a leave record), and most leavers find another one.
    ends = day64(first) + rng.exponential(5 * 365, n).astype(np.int64) + 1
    left = ends <= day64(county.end)
    leavers = employed[left]
    last_day = ends[left] - 2
    add(
        leavers,
        employer[left],
        _PLACES[place[left]].astype(object),
        "离岗",
        began[left],
        last_day,
        fen_text(wage[left]).astype(object),
        ends[left],
        ends[left],
    )
    county.triggers.append((pop.household[leavers], ends[left]))
    rehire = rng.random(len(leavers)) < 0.8
    again = ends[left][rehire] + rng.exponential(40, int(rehire.sum())).astype(np.int64) + 1
    m = len(again)
    new_place = rng.choice(3, m, p=[0.4, 0.3, 0.3])
    add(
        leavers[rehire],
        _EMPLOYERS[new_place, rng.integers(0, 3, m)].astype(object),
        _PLACES[new_place].astype(object),
        "在岗",
        again,
        nat,
        fen_text(rng.integers(1500, 4501, m) * 100).astype(object),
        again,
        again,
    )
    return _finish(county, "employment", EMPLOYMENT_HEADER, "utf-8", "JY")


# ---------------------------------------------------------------- social assistance


def social_assistance(county: County) -> list[Path]:
    """Minimum living allowance payments (GBK): the last 12 in the first extract, then on the 10th of each month.

    S1's allowance (520 yuan a month since 2021-03-01) and yearly subsidy are fixed.
    A new enrolment arrives with its first payment. Adds the yearly allowance to ``county.income``.
    """
    rng = county.rng("social_assistance")
    pop = county.population
    first = county.first
    latest = date(first.year, first.month, 10)
    if latest > first:
        latest = _add_months(latest, -1)
    stock_months = [_add_months(latest, -k) for k in range(12)]
    paydays = _monthly(first, county.end, 10)
    # S1: 12 monthly payments and the cultivated-land subsidy; its allowance continues monthly.
    ex = county.extracts
    for paid in stock_months + paydays:
        ex.add(
            "social_assistance",
            [[""], [pop.household_id[0]], ["低保"], ["520.00"], [paid.isoformat()], ["2021-03-01"]],
            day64(max(paid, first)),
        )
    ex.add(
        "social_assistance",
        [[""], [pop.household_id[0]], ["耕地地力保护补贴"], ["1200.00"], [date(first.year, 3, 15).isoformat()], [""]],
        day64(first),
    )

    households = county.random_households()
    unstable = np.isin(pop.category[households], ["脱贫不稳定户", "边缘易致贫户"])
    enrolled = households[rng.random(len(households)) < np.where(unstable, 0.35, 0.06)]
    monthly = rng.integers(300, 601, len(enrolled)) * 100
    since = day64(first) - rng.integers(90, 1501, len(enrolled))
    recent = rng.random(len(enrolled)) < 0.02
    since[recent] = day64(first) - rng.integers(1, 60, int(recent.sum()))
    np.add.at(county.income, enrolled, monthly * 12)
    for paid in stock_months:
        on = since <= day64(paid)
        _payments(county, enrolled[on], monthly[on], paid, since[on], first)
    for paid in paydays:
        _payments(county, enrolled, monthly, paid, since, paid)
    # New enrolments during the range (0.1 % of households a month), known with their first payment.
    new = _events(rng, county, len(households), 0.012)
    newcomers = rng.choice(households, len(new)) if len(households) else new.astype(np.int64)
    new_monthly = rng.integers(300, 601, len(new)) * 100
    for paid in paydays:
        due = (new < day64(paid)) & (new >= day64(_add_months(paid, -1)))
        _payments(county, newcomers[due], new_monthly[due], paid, new[due], paid)
        county.triggers.append((newcomers[due], np.full(int(due.sum()), day64(paid))))
        later = new < day64(_add_months(paid, -1))
        _payments(county, newcomers[later], new_monthly[later], paid, new[later], paid)
    return _finish(county, "social_assistance", ASSISTANCE_HEADER, "gbk", "FF")


def _payments(county: County, households, monthly, paid: date, since, delivered: date) -> None:
    n = len(households)
    county.extracts.add(
        "social_assistance",
        [
            np.full(n, "", dtype=object),
            county.population.household_id[households],
            np.full(n, "低保", dtype=object),
            fen_text(monthly).astype(object),
            np.full(n, paid.isoformat(), dtype=object),
            date_text(since),
        ],
        day64(delivered),
    )


# ---------------------------------------------------------------- disability, education


def disability(county: County) -> list[Path]:
    """Disability certificates (UTF-8): 5 % of persons, issued over 20 years; new ones daily."""
    rng = county.rng("disability")
    persons = county.random_persons()
    holders = persons[rng.random(len(persons)) < 0.05]
    issued = day64(county.first) - rng.integers(30, 7300, len(holders))
    new_days = _events(rng, county, len(persons), 0.05 / 20)
    new_holders = rng.choice(persons, len(new_days)) if len(persons) else new_days.astype(np.int64)
    who = np.r_[holders, new_holders]
    on = np.r_[issued, new_days - rng.integers(1, 11, len(new_days))]
    grade = rng.integers(0, 4, len(who))
    n = len(who)
    pop = county.population
    county.extracts.add(
        "disability",
        [
            np.full(n, "", dtype=object),
            pop.person_id[who],
            np.array(["视力", "听力", "言语", "肢体", "智力", "精神", "多重"], dtype=object)[rng.integers(0, 7, n)],
            np.array(["一级", "二级", "三级", "四级"], dtype=object)[grade],
            date_text(on),
        ],
        np.r_[np.full(len(holders), day64(county.first)), new_days],
    )
    severe_new = (np.arange(n) >= len(holders)) & (grade < 2)
    county.triggers.append((pop.household[who[severe_new]], np.r_[issued, new_days][severe_new]))
    return _finish(county, "disability", DISABILITY_HEADER, "utf-8", "CJ")


def education(county: County) -> list[Path]:
    """Pupils aged 6 to 18 (UTF-8): enrolments in the first extract; a dropout is a new record of its day."""
    rng = county.rng("education")
    pop = county.population
    persons = county.random_persons()
    age = pop.age_on(county.first)[persons]
    pupils = persons[(age >= 6) & (age <= 18)]
    age = pop.age_on(county.first)[pupils]
    stage = np.where(age <= 12, "小学", np.where(age <= 15, "初中", "高中")).astype(object)
    school = np.char.add(
        np.char.add("伽师县第", rng.integers(1, 10, len(pupils)).astype(str)), stage.astype(str)
    ).astype(object)
    dropped = rng.random(len(pupils)) < 0.001
    aid = np.where(rng.random(len(pupils)) < 0.6, 0, rng.choice([50_000, 100_000, 200_000], len(pupils)))
    year = county.first.year - (1 if county.first.month < 9 else 0)
    n = len(pupils)
    county.extracts.add(
        "education",
        [
            np.full(n, "", dtype=object),
            pop.person_id[pupils],
            school,
            stage,
            np.where(dropped, "辍学", "在校").astype(object),
            fen_text(aid).astype(object),
            np.full(n, date(year, 9, 1).isoformat(), dtype=object),
        ],
        day64(county.first),
    )
    compulsory = np.flatnonzero(stage != "高中")
    days = _events(rng, county, len(compulsory), 0.002)
    pick = rng.choice(compulsory, len(days), replace=False) if len(days) <= len(compulsory) else compulsory[:0]
    days = days[: len(pick)]
    county.extracts.add(
        "education",
        [
            np.full(len(pick), "", dtype=object),
            pop.person_id[pupils[pick]],
            school[pick],
            stage[pick],
            np.full(len(pick), "辍学", dtype=object),
            np.full(len(pick), "0.00", dtype=object),
            date_text(days),
        ],
        days,
    )
    county.triggers.append((pop.household[pupils[pick]], days))
    return _finish(county, "education", EDUCATION_HEADER, "utf-8", "XJ")


# ---------------------------------------------------------------- housing and water


def housing_water(county: County) -> list[Path]:
    """House safety and drinking water (UTF-8 with BOM): every household in the first extract, re-assessments daily."""
    rng = county.rng("housing_water")
    households = county.random_households()
    ratings = np.array(["A", "B", "C", "D"], dtype=object)
    shares = [0.72, 0.2735, 0.005, 0.0015]
    days = _events(rng, county, len(households), 0.5)
    again = rng.choice(households, len(days)) if len(households) else days.astype(np.int64)
    who = np.r_[households, again]
    n = len(who)
    rating = rng.choice(4, n, p=shares)
    unsafe = rng.random(n) < 0.002
    assessed = np.r_[day64(county.first) - rng.integers(30, 701, len(households)), days - rng.integers(1, 8, len(days))]
    county.extracts.add(
        "housing_water",
        [
            county.population.household_id[who],
            ratings[rating],
            np.where(unsafe, "否", "是").astype(object),
            date_text(assessed),
        ],
        np.r_[np.full(len(households), day64(county.first)), days],
    )
    flagged = (np.arange(n) >= len(households)) & ((rating >= 2) | unsafe)
    county.triggers.append((who[flagged], np.r_[np.full(len(households), day64(county.first)), days][flagged]))
    return _finish(county, "housing_water", HOUSING_HEADER, "utf-8-sig")


# ---------------------------------------------------------------- public-welfare jobs, agriculture


def public_welfare_jobs(county: County) -> list[Path]:
    """Public-welfare posts (UTF-8): S1's mother since April, 5 % of households; adds the pay to ``county.income``."""
    rng = county.rng("public_welfare_jobs")
    pop = county.population
    first = county.first
    ex = county.extracts
    since = min(date(first.year, 4, 1), first - timedelta(days=30))
    ex.add(
        "public_welfare_jobs",
        [[""], [pop.person_id[1]], ["保洁员"], ["800.00"], [since.isoformat()], [""]],
        day64(first),
    )
    households = county.random_households()
    holding = households[rng.random(len(households)) < 0.05]
    # The holder: the first member aged 18-59 able to work (full or weak labour capacity).
    age = pop.age_on(first)
    able = np.isin(pop.labour, (ORDINARY, SKILLED, WEAK)) & (age >= 18) & (age < 60)
    if county.reserved is not None:
        able[county.reserved] = False
    if county.deceased >= 0:
        able[county.deceased] = False
    holders, homes = [], []
    for offset in range(7):
        person = pop.first_member[holding] + offset
        ok = (offset < pop.size[holding]) & able[np.minimum(person, pop.persons - 1)]
        chosen = ok & ~np.isin(holding, homes)
        holders.append(person[chosen])
        homes.extend(holding[chosen].tolist())
    holders = np.concatenate(holders) if holders else np.array([], dtype=np.int64)
    n = len(holders)
    pay = rng.choice([50_000, 60_000, 80_000, 100_000], n)
    began = day64(first) - rng.integers(30, 701, n)
    ex.add(
        "public_welfare_jobs",
        [
            np.full(n, "", dtype=object),
            pop.person_id[holders],
            _POSTS[rng.integers(0, 5, n)].astype(object),
            fen_text(pay).astype(object),
            date_text(began),
            np.full(n, "", dtype=object),
        ],
        day64(first),
    )
    np.add.at(county.income, pop.household[holders], pay * 12)
    return _finish(county, "public_welfare_jobs", WELFARE_HEADER, "utf-8", "GY")


def agriculture_income(county: County) -> list[Path]:
    """Farm income per household and year (an Excel workbook): last year's first, each January 15 the next.

    The household's per-capita net income is drawn (median 17,000 yuan, σ 0.32; 0.4 %
    at 3,000–5,900 yuan) and farm income makes up the difference to what it earns
    elsewhere (``county.income``), at least 1,000 yuan.
    """
    rng = county.rng("agriculture_income")
    pop = county.population
    first = county.first
    households = county.random_households()
    n = len(households)
    per_capita = rng.lognormal(np.log(1_700_000), 0.32, n)
    poor = rng.random(n) < 0.004
    per_capita[poor] = rng.integers(300_000, 590_000, int(poor.sum()))
    gap = (per_capita * pop.size[households]).astype(np.int64) - county.income[households]
    farm = np.where(gap < 100_000, rng.integers(100_000, 300_001, n), gap)
    deliveries = [(first.year - 1, first)] + [
        (y - 1, date(y, 1, 15)) for y in range(first.year + 1, county.end.year + 1) if date(y, 1, 15) <= county.end
    ]
    ex = county.extracts
    for year, delivered in deliveries:
        ex.add(
            "agriculture_income",
            [[pop.household_id[0]], [str(year)], ["6.50"], ["棉花"], ["0.00"], ["0.00"], ["2400.00"]],
            day64(delivered),
        )
        noise = rng.uniform(0.9, 1.1, n) if year != first.year - 1 else np.ones(n)
        total = (farm * noise).astype(np.int64)
        crops = (total * 0.75).astype(np.int64)
        livestock = (total * 0.15).astype(np.int64)
        rent = total - crops - livestock
        ex.add(
            "agriculture_income",
            [
                pop.household_id[households],
                np.full(n, str(year), dtype=object),
                np.char.mod("%.2f", np.clip(crops / 100_000.0, 1.0, 80.0)).astype(object),
                np.array(["棉花", "小麦", "玉米", "红枣"], dtype=object)[rng.integers(0, 4, n)],
                fen_text(crops).astype(object),
                fen_text(livestock).astype(object),
                fen_text(rent).astype(object),
            ],
            day64(delivered),
        )
    return _finish(county, "agriculture_income", AGRICULTURE_HEADER, "xlsx")


# ---------------------------------------------------------------- verifications


def verifications(county: County) -> list[Path]:
    """Home visits (UTF-8): S1's on D2, then 90 % of the triggers 1-4 days later, 20 % confirming a risk."""
    rng = county.rng("verifications")
    pop = county.population
    ex = county.extracts
    if county.scenario.d2 is not None:
        d2 = county.scenario.d2
        ex.add(
            "verifications",
            [
                [f"HC{d2:%Y%m%d}0001"],
                [SCENARIO_HOUSEHOLDS["S1"]],
                [d2.isoformat()],
                [S1_VERIFIER],
                ["无返贫致贫风险"],
                [S1_NOTE],
                ["38400.00"],
            ],
            day64(d2),
        )
    if county.triggers:
        household = np.concatenate([t[0] for t in county.triggers]).astype(np.int64)
        known = np.concatenate([t[1] for t in county.triggers]).astype("datetime64[D]")
    else:
        household, known = np.array([], dtype=np.int64), np.array([], dtype="datetime64[D]")
    keep = household >= county.n_fixed
    if county.reserved is not None and len(county.reserved):
        keep &= ~np.isin(household, pop.household[county.reserved])
    household, known = household[keep], known[keep]
    visited = rng.random(len(household)) < 0.9
    day = known[visited] + rng.integers(1, 5, int(visited.sum()))
    household = household[visited]
    _, unique = np.unique(household.astype(np.int64) * 100_000 + day.astype(np.int64), return_index=True)
    household, day = household[unique], day[unique]
    order = np.argsort(day, kind="stable")
    household, day = household[order], day[order]
    n = len(household)
    if n == 0:  # a small county over a few days may raise nothing to visit beyond the scenarios
        return _finish(county, "verifications", VERIFICATION_HEADER, "utf-8")
    confirmed = rng.random(n) < 0.2
    ex.add(
        "verifications",
        [
            np.char.add(
                np.char.add("HC", np.char.replace(date_text(day).astype(str), "-", "")),
                np.char.zfill(np.arange(2, n + 2).astype(str), 6),
            ).astype(object),
            pop.household_id[household],
            date_text(day),
            _names(rng, n),
            np.where(confirmed, "存在返贫致贫风险", "无返贫致贫风险").astype(object),
            np.where(confirmed, "家庭困难，需落实帮扶措施", "已核实，家庭收入稳定").astype(object),
            np.full(n, "", dtype=object),
        ],
        day,
    )
    return _finish(county, "verifications", VERIFICATION_HEADER, "utf-8")


#: The departments in the order they are generated (verifications last: it visits what the others raised).
DEPARTMENTS: dict[str, Callable[..., list[Path]]] = {
    "household_register": household_register,
    "medical_settlements": medical_settlements,
    "employment": employment,
    "social_assistance": social_assistance,
    "public_welfare_jobs": public_welfare_jobs,
    "disability": disability,
    "education": education,
    "housing_water": housing_water,
    "agriculture_income": agriculture_income,
    "verifications": verifications,
    "village_officials": village_officials,
}
