"""The sample county's households and persons as column arrays (numpy), built in one pass.

A county of 3,000 households and a province of 1,000,000 (about 3.9 million persons)
are built the same way: every attribute is drawn for all households (or persons) at
once, so the cost is a few numpy operations per attribute, not a Python loop per
person. Resident IDs follow GB 11643 (area 653129, birth date, a sequence number whose
parity is the sex, the MOD 11-2 check character) and are unique: the sequence number
is the person's rank among the persons of the same birth date and sex.

Proportions (household sizes, categories, labour capacity) are plausible for a rural
county of southern Xinjiang, chosen for the sample, not measured; README ("Sample
county") states them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

COUNTY_CODE = "653129"
#: GB 11643-1999: weights of the 17 digits and the check characters by sum mod 11.
_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_CHECK = np.array(list("10X98765432"))

SURNAMES = np.array(["买买提", "艾力", "吐尔逊", "阿不都", "热合曼", "依明", "托合提", "库尔班", "司马义", "努尔"])
MALE_NAMES = np.array(["艾山", "亚森", "阿迪力", "麦麦提", "吐逊", "伊力", "卡德尔", "艾合买提", "肉孜", "阿里木"])
FEMALE_NAMES = np.array(
    ["阿依古丽", "古丽", "帕提古丽", "热依拉", "阿瓦古丽", "布合丽且姆", "米热古丽", "再努尔", "海尼古丽"]
)
#: Household categories of the register and their shares.
CATEGORIES = np.array(["脱贫户", "脱贫不稳定户", "边缘易致贫户", "一般农户"])
CATEGORY_SHARES = [0.62, 0.08, 0.12, 0.18]
#: Household sizes 1..7 and their shares (mean 3.86 persons).
SIZE_SHARES = [0.06, 0.14, 0.2, 0.26, 0.2, 0.1, 0.04]
LABOUR = np.array(["无劳动力", "普通劳动力", "技能劳动力", "弱劳动力或半劳动力", "丧失劳动力"])
NONE, ORDINARY, SKILLED, WEAK, LOST = range(5)


@dataclass
class Population:
    """Households (index h) and persons (index p) of the sample, scenario households first.

    Household arrays: ``household_id`` (text), ``village`` (12-digit code), ``category``
    (register text), ``first_member`` / ``size`` (persons ``first_member[h] ..
    first_member[h] + size[h] - 1``). Person arrays: ``household`` (index h),
    ``person_id`` (18-character resident ID), ``name``, ``relation``, ``sex`` (男/女),
    ``birth`` (datetime64[D]), ``labour`` (index into :data:`LABOUR`), ``status``
    (正常/死亡), ``status_date`` (text, empty unless changed).
    """

    household_id: np.ndarray
    village: np.ndarray
    category: np.ndarray
    first_member: np.ndarray
    size: np.ndarray
    household: np.ndarray
    person_id: np.ndarray
    name: np.ndarray
    relation: np.ndarray
    sex: np.ndarray
    birth: np.ndarray
    labour: np.ndarray
    status: np.ndarray
    status_date: np.ndarray

    @property
    def households(self) -> int:
        return len(self.household_id)

    @property
    def persons(self) -> int:
        return len(self.person_id)

    def age_on(self, day: date) -> np.ndarray:
        """Age in whole years on ``day`` (int array per person)."""
        births = self.birth.astype("datetime64[D]")
        years = births.astype("datetime64[Y]").astype(int) + 1970
        months = births.astype("datetime64[M]").astype(int) % 12 + 1
        days = (births - births.astype("datetime64[M]")).astype(int) + 1
        before = (months > day.month) | ((months == day.month) & (days > day.day))
        return day.year - years - before.astype(int)


@dataclass
class FixedPerson:
    """A scenario person: relation, sex, birth date, labour (index), name."""

    relation: str
    sex: str
    birth: date
    labour: int
    name: str


def _ranks(birth: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Each person's rank among the persons of the same birth date and sex (0, 1, ...)."""
    n = len(birth)
    key = birth.astype("datetime64[D]").astype(np.int64) * 2 + male
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1] if n else np.array([], dtype=np.int64)
    group_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - group_start
    return rank


def spread_births(birth: np.ndarray, male: np.ndarray, protected: int = 0) -> np.ndarray:
    """Move persons beyond the 500th of one sex on one birth date to the next days (IDs have 500 sequences).

    The first ``protected`` persons (the scenario persons) keep their dates. Returns the new dates.
    """
    birth = birth.astype("datetime64[D]").copy()
    while True:
        rank = _ranks(birth, male)
        over = rank >= 500
        over[:protected] = False
        if not over.any():
            return birth
        birth[over] += (rank[over] // 500).astype("timedelta64[D]")


def resident_ids(birth: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Unique GB 11643 resident IDs for persons of the county (area 653129).

    ``birth``: datetime64[D] per person; ``male``: bool per person. The sequence
    number is ``2 * rank + male`` where rank counts earlier persons of the same birth
    date and sex. Raises ``ValueError`` if one birth date has more than 500 persons of
    one sex (the 3-digit sequence is full).
    """
    n = len(birth)
    rank = _ranks(birth, male)
    if n and rank.max() >= 500:
        raise ValueError("more than 500 persons of one sex born on one day: no resident ID sequence left")
    seq = rank * 2 + male
    ymd = np.char.replace(np.datetime_as_string(birth.astype("datetime64[D]")), "-", "")
    body = np.char.add(np.char.add(COUNTY_CODE, ymd), np.char.zfill(seq.astype(str), 3))
    digits = body.astype("S17").view(np.uint8).reshape(n, 17).astype(np.int64) - ord("0")  # bytes, not parses
    check = _CHECK[(digits * _WEIGHTS).sum(axis=1) % 11]
    return np.char.add(body, check).astype(object)


def _random_dates(rng: np.random.Generator, years: np.ndarray) -> np.ndarray:
    """A random day (1..28) of a random month in each of ``years`` (datetime64[D])."""
    months = rng.integers(0, 12, len(years))
    first = (years - 1970) * 12 + months
    return first.astype("datetime64[M]").astype("datetime64[D]") + rng.integers(0, 28, len(years))


def build_population(
    rng: np.random.Generator,
    households: int,
    villages: list[str],
    as_of: date,
    fixed: list[tuple[str, str, str, list[FixedPerson]]],
) -> Population:
    """``households`` random households in ``villages`` after the ``fixed`` ones.

    ``fixed``: (household_id, village, category, members) of the scenario households,
    kept exactly. Random household ids are the village code and a sequence number
    (4 digits: raises ``ValueError`` beyond 9,999 in one village). Ages are on ``as_of``.
    """
    n_fixed = len(fixed)
    village = rng.choice(np.array(villages, dtype=object), households)
    order = np.argsort(village, kind="stable")
    seq = np.empty(households, dtype=np.int64)
    sorted_v = village[order]
    starts = np.r_[0, np.flatnonzero(sorted_v[1:] != sorted_v[:-1]) + 1] if households else np.array([], int)
    counts = np.diff(np.r_[starts, households])
    seq[order] = np.arange(households) - np.repeat(starts, counts) + 1
    if households and seq.max() > 9999:
        raise ValueError(f"{seq.max()} households in one village: household numbers have 4 digits")
    random_ids = np.char.add(village.astype(str), np.char.zfill(seq.astype(str), 4)).astype(object)
    category = CATEGORIES[rng.choice(len(CATEGORIES), households, p=CATEGORY_SHARES)].astype(object)
    size = rng.choice(np.arange(1, 8), households, p=SIZE_SHARES)

    # Persons: head, spouse (households of 2+), children.
    n_random = int(size.sum())
    household = np.repeat(np.arange(households), size)
    first = np.r_[0, np.cumsum(size)[:-1]] if households else np.array([], int)
    position = np.arange(n_random) - np.repeat(first, size)
    head_year = as_of.year - rng.integers(24, 76, households)
    year = np.repeat(head_year, size).astype(np.int64)
    spouse = position == 1
    child = position >= 2
    year[spouse] += rng.integers(-2, 6, int(spouse.sum()))
    # Children born when the head was 20 to 40, and before the as-of year (heads are 24 or older).
    latest = np.minimum(40, as_of.year - 1 - year[child] - 20)
    year[child] = year[child] + 20 + (rng.random(int(child.sum())) * (latest + 1)).astype(np.int64)
    birth = _random_dates(rng, year)
    male = np.where(position == 0, True, np.where(spouse, False, rng.random(n_random) < 0.5))
    relation = np.where(position == 0, "户主", np.where(spouse, "配偶", np.where(male, "之子", "之女"))).astype(object)

    # Labour capacity by age: none under 16; 65+ weak (75 %) or lost; adults mostly full.
    age = as_of.year - year
    labour = np.where(
        age < 16,
        NONE,
        np.where(
            age >= 65,
            np.where(rng.random(n_random) < 0.75, WEAK, LOST),
            rng.choice([ORDINARY, SKILLED, WEAK, LOST], n_random, p=[0.8, 0.1, 0.07, 0.03]),
        ),
    )
    family = np.repeat(SURNAMES[rng.integers(0, len(SURNAMES), households)], size)
    spouse_family = SURNAMES[rng.integers(0, len(SURNAMES), n_random)]
    given = np.where(
        male, MALE_NAMES[rng.integers(0, len(MALE_NAMES), n_random)], FEMALE_NAMES[rng.integers(0, 9, n_random)]
    )
    name = np.char.add(np.char.add(given, "·"), np.where(spouse, spouse_family, family)).astype(object)

    # Scenario households first, exactly as given.
    f_sizes = np.array([len(m) for *_, m in fixed], dtype=np.int64)
    f_people = [p for *_, members in fixed for p in members]
    all_size = np.r_[f_sizes, size]
    all_birth = np.r_[np.array([p.birth for p in f_people], dtype="datetime64[D]"), birth]
    all_male = np.r_[np.array([p.sex == "男" for p in f_people], dtype=bool), male]
    n_persons = len(all_birth)
    all_birth = spread_births(all_birth, all_male, protected=len(f_people))
    return Population(
        household_id=np.r_[np.array([h for h, *_ in fixed], dtype=object), random_ids],
        village=np.r_[np.array([v for _, v, *_ in fixed], dtype=object), village],
        category=np.r_[np.array([c for _, _, c, _ in fixed], dtype=object), category],
        first_member=np.r_[0, np.cumsum(all_size)[:-1]],
        size=all_size,
        household=np.r_[np.repeat(np.arange(n_fixed), f_sizes), household + n_fixed],
        person_id=resident_ids(all_birth, all_male),
        name=np.r_[np.array([p.name for p in f_people], dtype=object), name],
        relation=np.r_[np.array([p.relation for p in f_people], dtype=object), relation],
        sex=np.where(all_male, "男", "女").astype(object),
        birth=all_birth,
        labour=np.r_[np.array([p.labour for p in f_people], dtype=np.int64), labour],
        status=np.full(n_persons, "正常", dtype=object),
        status_date=np.full(n_persons, "", dtype=object),
    )
