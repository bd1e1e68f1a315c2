"""The sample county: deterministic, encoded as the departments send it, with valid IDs."""

from __future__ import annotations

import csv
from datetime import date

from stdnum.cn import ric

from household_monitoring.sample_data.generator import SCENARIO_HOUSEHOLDS, generate_county


def _content(path):
    """Bytes of a CSV file; cell values of a workbook (a .xlsx zip carries its write time)."""
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        return [list(r) for r in load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True)]
    return path.read_bytes()


def test_same_seed_same_bytes_and_department_encodings(tmp_path):
    a = generate_county(tmp_path / "a", households=400)
    b = generate_county(tmp_path / "b", households=400)
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
    with open(county.files["household_register"][0], encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert all(ric.is_valid(r["身份证号"]) for r in rows)
    s1 = [r for r in rows if r["户编号"] == SCENARIO_HOUSEHOLDS["S1"]]
    assert [r["与户主关系"] for r in s1] == ["户主", "配偶", "之子", "之女"]
    assert s1[0]["户类型"] == "边缘易致贫户"
