"""``hm load-history``'s counts: every file of the range, the held-back ones included."""

from __future__ import annotations

from datetime import date

from household_monitoring.history import load_history

HEADER = (
    "结算单号,身份证号,姓名,医疗机构名称,入院日期,出院日期,"
    "医疗总费用,基本医保统筹支付,大病保险支付,医疗救助支付,个人自付"
)
ROW = "JS{n},653129201902207995,亚森·艾山,伽师县人民医院,2024-05-08,2024-05-20,31562.40,15781.20,3156.24,2306.78,{oop}"
D = date(2031, 3, 4)


def test_held_back_files_count_in_the_totals(fresh_db, tmp_path):
    folder = tmp_path / "medical_settlements" / D.isoformat()
    folder.mkdir(parents=True)
    rows = [ROW.format(n=1, oop="10318.18"), ROW.format(n=2, oop="10318.18"), ROW.format(n=3, oop="-1.00")]
    (folder / "settlements.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    (folder / "late_export.csv").write_bytes(b"")  # rejected: held back
    loaded = load_history(fresh_db, D, D, landing=tmp_path, build=False)
    assert (loaded.batches, loaded.rows_read, loaded.rows_loaded, loaded.rows_quarantined) == (2, 3, 2, 1)
    assert len(loaded.held_back) == 1
    assert loaded.held_back[0].startswith(f"medical_settlements {D}: late_export.csv: ")
