"""The quality gate: a batch is published only when its blocking expectations hold."""

from __future__ import annotations

from datetime import date

from household_monitoring.loading import load_file
from household_monitoring.quality import validate_batch
from household_monitoring.sample_data.generator import REGISTER_HEADER

ROW = "{hh},{pid},名{n},户主,男,1980-01-01,653129100001,脱贫户,普通劳动力,正常,"


def _register(tmp_path, name, ids):
    path = tmp_path / name
    lines = [",".join(REGISTER_HEADER)] + [ROW.format(hh=f"65312910000100{n:02d}", pid=pid, n=n) for n, pid in ids]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ids(count):
    from stdnum.cn import ric

    out = []
    for n in range(count):
        base = f"65312919800101{n:03d}"
        out.append((n, base + ric.calc_check_digit(base + "0")))
    return out


def test_a_truncated_full_extract_is_held_back(fresh_db, contracts, tmp_path):
    from household_monitoring.database import connect

    with connect(fresh_db, autocommit=True) as conn:
        _check_truncation(conn, fresh_db, contracts["household_register"], tmp_path)


def _check_truncation(conn, test_db, contract, tmp_path):
    first = load_file(conn, contract, _register(tmp_path, "r1.csv", _ids(20)), date(2032, 1, 1))
    assert validate_batch(conn, test_db, contract, first.batch_id).status == "published"
    shrunk = load_file(conn, contract, _register(tmp_path, "r2.csv", _ids(17)), date(2032, 1, 2))
    gate = validate_batch(conn, test_db, contract, shrunk.batch_id)
    assert gate.status == "failed_validation"
    assert gate.message == "r2.csv: failed blocking expectations: expect_table_row_count_to_be_between"
    blocked = conn.execute(
        "select observed_value from audit.dq_results where batch_id = %s and not success", (shrunk.batch_id,)
    ).fetchall()
    assert blocked == [("17",)]
    steady = load_file(conn, contract, _register(tmp_path, "r3.csv", _ids(18)), date(2032, 1, 3))
    assert validate_batch(conn, test_db, contract, steady.batch_id).status == "published"  # 18 >= 90 % of 20
