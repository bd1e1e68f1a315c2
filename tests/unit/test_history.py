"""``hm load-history``'s counts: every file of the range, the held-back ones included."""

from __future__ import annotations

from datetime import date

from support import GOOD_SETTLEMENT, SETTLEMENTS_HEADER

from household_monitoring.history import load_history

D = date(2031, 3, 4)


def test_held_back_files_count_in_the_totals(fresh_db, tmp_path):
    folder = tmp_path / "medical_settlements" / D.isoformat()
    folder.mkdir(parents=True)
    negative = GOOD_SETTLEMENT.format(n=3).replace("10318.18", "-1.00")  # quarantined: a negative amount
    rows = [GOOD_SETTLEMENT.format(n=1), GOOD_SETTLEMENT.format(n=2), negative]
    (folder / "settlements.csv").write_text("\n".join([SETTLEMENTS_HEADER, *rows]) + "\n", encoding="utf-8")
    (folder / "late_export.csv").write_bytes(b"")  # rejected: held back
    loaded = load_history(fresh_db, D, D, landing=tmp_path, build=False)
    assert (loaded.batches, loaded.rows_read, loaded.rows_loaded, loaded.rows_quarantined) == (2, 3, 2, 1)
    assert len(loaded.held_back) == 1
    assert loaded.held_back[0].startswith(f"medical_settlements {D}: late_export.csv: ")
