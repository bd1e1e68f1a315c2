"""The poverty-alleviation office's roster of officials (source ``village_officials``).

One full roster (UTF-8, Chinese headers) on the first date: a poverty-alleviation
specialist for each village, a supervisor for each township and the county office's
duty officer. The S1 village's specialist is the official who makes S1's home visit
(:data:`generator.S1_VERIFIER`). One posting ends during the run to show a handover:
the specialist of :data:`HANDOVER_VILLAGE` serves to the day after the first date and
a successor takes the post the day after that. Every name, phone number and address
is invented (``.example`` domains, ``139 0000`` numbers).
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

OFFICIALS_HEADER = ["干部编号", "姓名", "职责", "负责区划代码", "联系电话", "电子邮箱", "任职开始日期", "任职结束日期"]
#: The village whose specialist leaves during the sample run (not S1's village).
HANDOVER_VILLAGE = "653129100002"
#: Posting numbers of the officials the scenarios name.
S1_VILLAGE_OFFICIAL = "GB653129100001"
S1_TOWNSHIP_OFFICIAL = "GB653129100"
COUNTY_OFFICIAL = "GB653129"
ROLE_LABELS = {"village": "村级帮扶专干", "township": "乡镇包联干部", "county": "县级值班干部"}
_GIVEN = ["艾尔肯", "买买提江", "古丽米拉", "阿布都拉", "热孜万古", "迪丽努尔", "帕尔哈提", "努尔古丽", "吐尔洪"]
_FAMILY = ["阿不都热依木", "吐尔地", "艾买提", "玉素甫", "克里木", "沙吾提", "依力哈木"]


def official_row(
    official_id: str, name: str, level: str, area: str, serial: int, start: date, end: date | None
) -> list:
    """One roster row: id, name, role label, area code, phone, email, active from, active to."""
    return [
        official_id,
        name,
        ROLE_LABELS[level],
        area,
        f"1390000{serial:04d}",
        f"{official_id.lower()}@county.example",
        start.isoformat(),
        end.isoformat() if end else "",
    ]


def village_officials(county) -> list[Path]:
    """The department function (``departments.DEPARTMENTS``): the roster on the county's first date."""
    from household_monitoring.sample_data.generator import COUNTY_CODE, TOWNSHIPS, VILLAGES

    townships = [f"{COUNTY_CODE}{t}" for t, _ in TOWNSHIPS]
    landing = county.extracts.landing
    return write_village_officials(landing, COUNTY_CODE, townships, VILLAGES, county.first, county.end, county.seed + 2)


def write_village_officials(
    landing: Path, county_code: str, townships: list[str], villages: list[str], start: date, end: date, seed: int
) -> list[Path]:
    """Write the roster for ``start`` (one file); returns its path.

    ``townships`` and ``villages`` are 9- and 12-digit codes. Postings start a year
    before ``start``; the handover falls on ``start + 2`` days when the range reaches it.
    """
    from household_monitoring.sample_data.generator import S1_VERIFIER

    rng = random.Random(seed)
    appointed = start - timedelta(days=365)

    def name() -> str:
        return f"{rng.choice(_GIVEN)}·{rng.choice(_FAMILY)}"

    rows = [official_row(f"GB{county_code}", name(), "county", county_code, 1, appointed, None)]
    for i, township in enumerate(townships, start=2):
        rows.append(official_row(f"GB{township}", name(), "township", township, i, appointed, None))
    serial = 100
    for village in villages:
        serial += 1
        official = S1_VERIFIER if f"GB{village}" == S1_VILLAGE_OFFICIAL else name()
        if village == HANDOVER_VILLAGE and end >= start + timedelta(days=2):
            leaves = start + timedelta(days=1)
            rows.append(official_row(f"GB{village}", official, "village", village, serial, appointed, leaves))
            serial += 1
            rows.append(
                official_row(f"GB{village}B", name(), "village", village, serial, leaves + timedelta(days=1), None)
            )
        else:
            rows.append(official_row(f"GB{village}", official, "village", village, serial, appointed, None))
    path = landing / "village_officials" / start.isoformat() / f"village_officials_{start:%Y%m%d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(OFFICIALS_HEADER)
        writer.writerows(rows)
    return [path]
