"""The sample county: deterministic, encoded as the departments send it, with valid IDs, at any size and range."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from stdnum.cn import ric

from household_monitoring.sample_data.generator import (
    D1,
    D2,
    SCENARIO_HOUSEHOLDS,
    ScenarioDates,
    generate_county,
    villages_for,
)
from household_monitoring.sample_data.population import resident_ids


def _content(path):
    """Bytes of a CSV file; cell values of a workbook (a .xlsx zip carries its write time)."""
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        return [list(r) for r in load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True)]
    return path.read_bytes()


def _rows(path, encoding):
    with open(path, encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh))


def test_same_seed_same_bytes_and_department_encodings(tmp_path):
    a = generate_county(tmp_path / "a", households=400)
    b = generate_county(tmp_path / "b", households=400)
    assert a.files.keys() == b.files.keys()
    for source in a.files:
        for pa_, pb in zip(a.files[source], b.files[source], strict=True):
            assert _content(pa_) == _content(pb)
    register = a.files["household_register"][0].read_bytes()
    assert register.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    medical = a.files["medical_settlements"][0].read_bytes()
    assert "结算单号".encode("gbk") in medical  # GBK, Chinese headers
    assert [p.parent.name for p in a.files["medical_settlements"]] == ["2024-07-15", "2024-07-16", "2024-07-17"]
    assert a.files["agriculture_income"][0].suffix == ".xlsx"
    assert "发放编号".encode("gbk") in a.files["social_assistance"][0].read_bytes()


def test_register_ids_pass_gb11643_and_scenarios_are_present(tmp_path):
    county = generate_county(tmp_path, households=400, start=date(2024, 7, 15), end=date(2024, 7, 17))
    rows = _rows(county.files["household_register"][0], "utf-8-sig")
    assert len(rows) == county.population.persons == len({r["身份证号"] for r in rows})
    assert all(ric.is_valid(r["身份证号"]) for r in rows)
    s1 = [r for r in rows if r["户编号"] == SCENARIO_HOUSEHOLDS["S1"]]
    assert [r["与户主关系"] for r in s1] == ["户主", "配偶", "之子", "之女"]
    assert s1[0]["户类型"] == "边缘易致贫户"
    assert [r["人员状态"] for r in rows].count("死亡") == 1
    settlements = _rows(county.files["medical_settlements"][0], "gbk")
    assert [r["个人自付"] for r in settlements[:7]] == [
        "10318.18", "2000.00", "2000.01", "3000.00", "3000.01", "1200.00", "900.00"
    ]  # fmt: skip
    assert settlements[0]["结算单号"] == "JS65312900000001"
    assert county.scenario_dates == ScenarioDates(D1, D2)


def test_resident_ids_unique_and_valid_for_crowded_birth_dates():
    births = np.full(900, np.datetime64("1990-01-01"))
    male = np.arange(900) % 2 == 0
    ids = resident_ids(births, male)
    assert len(set(ids)) == 900
    assert all(ric.is_valid(i) for i in ids[:50])
    assert ids[0] == "65312919900101001X"  # male, rank 0: sequence 001; MOD 11-2 check character X
    with pytest.raises(ValueError, match="more than 500 persons"):
        resident_ids(np.full(1001, np.datetime64("1990-01-01")), np.ones(1001, dtype=bool))


def test_the_divisions_seed_lists_every_village_up_to_a_province():
    """A village missing from the seed fails the register's relationships test (2.6 M rows at 1 M households)."""
    seed = Path(__file__).parents[2] / "dbt_project" / "seeds" / "admin_divisions.csv"
    with open(seed, encoding="utf-8", newline="") as fh:
        villages = {row["division_code"] for row in csv.DictReader(fh) if row["level"] == "village"}
    assert len(villages_for(3_000)) == 36 and len(villages_for(1_000_000)) == 114
    assert set(villages_for(1_000_000)) == villages


def test_a_range_without_d1_places_the_scenarios_inside_it(tmp_path):
    county = generate_county(tmp_path, households=400, start=date(2024, 9, 1), end=date(2024, 9, 20))
    assert county.scenario_dates == ScenarioDates(date(2024, 9, 1), date(2024, 9, 3))
    first = _rows(tmp_path / "medical_settlements" / "2024-09-01" / "medical_settlements_20240901.csv", "gbk")
    assert first[0]["个人自付"] == "10318.18"
    visits = _rows(tmp_path / "verifications" / "2024-09-03" / "verifications_20240903.csv", "utf-8")
    assert visits[0]["户编号"] == SCENARIO_HOUSEHOLDS["S1"]


def test_history_is_daily_files_at_usual_volumes(tmp_path):
    """A history: the first settlement file is a usual day's, the register monthly, payments on the 10th."""
    county = generate_county(
        tmp_path, households=3000, start=date(2024, 7, 15), end=date(2024, 7, 15), history_start=date(2024, 5, 1)
    )
    medical = [len(_rows(p, "gbk")) for p in county.files["medical_settlements"]]
    assert len(medical) == 76  # every day 05-01 .. 07-15
    usual = sorted(medical)[len(medical) // 2]
    assert medical[0] < 2 * usual  # the first file is not the year so far
    assert [p.parent.name for p in county.files["household_register"]] == ["2024-05-01", "2024-06-01", "2024-07-01"]
    assert [p.parent.name for p in county.files["social_assistance"]] == [
        "2024-05-01",
        "2024-05-10",
        "2024-06-10",
        "2024-07-10",
    ]
