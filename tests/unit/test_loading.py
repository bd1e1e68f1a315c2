"""Loader against PostgreSQL: every row loaded or quarantined, re-runs replace, rejections load nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from support import GOOD_SETTLEMENT as GOOD
from support import SETTLEMENTS_HEADER as HEADER

from household_monitoring.loading import load_file

D = date(2031, 1, 2)  # a date no other test uses


def _file(tmp_path, name, lines, encoding="gbk"):
    path = tmp_path / name
    path.write_bytes(("\r\n".join([HEADER, *lines]) + "\r\n").encode(encoding))
    return path


def _counts(conn, batch_id):
    raw = conn.execute("select count(*) from raw.medical_settlements where _batch_id = %s", (batch_id,)).fetchone()[0]
    quarantined = conn.execute(
        "select count(*) from quarantine.medical_settlements where _batch_id = %s", (batch_id,)
    ).fetchone()[0]
    return raw, quarantined


def test_good_and_bad_rows_split_with_exact_reasons(conn, contracts, tmp_path):
    lines = [
        GOOD.format(n=1),
        GOOD.format(n=2).replace("10318.18", "10318.19"),
        GOOD.format(n=3).replace("653129201902207995", "653129201902207990"),
        GOOD.format(n=4).replace("31562.40", '"31.562,40"'),
        GOOD.format(n=5).replace("2024-05-08", "2024-02-30"),
    ]
    result = load_file(conn, contracts["medical_settlements"], _file(tmp_path, "a.csv", lines), D)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == ("loaded", 5, 1, 4)
    assert _counts(conn, result.batch_id) == (1, 4)
    oop = conn.execute(
        "select out_of_pocket from raw.medical_settlements where _batch_id = %s", (result.batch_id,)
    ).fetchone()[0]
    assert oop == Decimal("10318.18")
    reasons = conn.execute(
        "select _row_number, reasons, raw_record->>'结算单号' from quarantine.medical_settlements "
        "where _batch_id = %s order by _row_number",
        (result.batch_id,),
    ).fetchall()
    assert reasons == [
        (
            3,
            [
                "out_of_pocket: 10318.19 is not total_cost - basic_insurance - critical_illness_insurance"
                " - medical_assistance = 10318.18 (rule out_of_pocket_balances)"
            ],
            "JS2",
        ),
        (4, ["person_id: resident ID check digit (MOD 11-2) is wrong"], "JS3"),
        (5, ["total_cost: not an amount in yuan: '31.562,40'"], "JS4"),
        (6, ["admission_date: impossible date: '2024-02-30'"], "JS5"),
    ]


def test_rerun_of_a_date_replaces_its_batch(conn, contracts, tmp_path):
    path = _file(tmp_path, "rerun.csv", [GOOD.format(n=n) for n in range(10, 13)])
    first = load_file(conn, contracts["medical_settlements"], path, D)
    second = load_file(conn, contracts["medical_settlements"], path, D)
    assert _counts(conn, first.batch_id) == (0, 0)
    assert _counts(conn, second.batch_id) == (3, 0)
    rows = conn.execute(
        "select batch_id, status, superseded_by from audit.load_batches where file_name = 'rerun.csv' order by 1"
    ).fetchall()
    assert rows == [(first.batch_id, "superseded", second.batch_id), (second.batch_id, "loaded", None)]
    total = conn.execute(
        "select count(*) from raw.medical_settlements where settlement_id in ('JS10', 'JS11', 'JS12')"
    ).fetchone()[0]
    assert total == 3


def test_rejected_file_loads_nothing_and_quarantines_every_record(conn, contracts, tmp_path):
    path = tmp_path / "no_oop.csv"
    header = HEADER.replace(",个人自付", "")
    rows = [",".join(GOOD.format(n=n).split(",")[:-1]) for n in (20, 21)]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = load_file(conn, contracts["medical_settlements"], path, D)
    assert result.status == "rejected"
    assert result.message.startswith("no_oop.csv: required column(s) missing from the header: out_of_pocket")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 0, 2)
    assert _counts(conn, result.batch_id) == (0, 2)
    reasons = conn.execute(
        "select distinct reasons[1] from quarantine.medical_settlements where _batch_id = %s", (result.batch_id,)
    ).fetchone()[0]
    assert reasons.startswith("batch rejected: required column(s) missing")


def test_ledger_always_reconciles(conn):
    broken = conn.execute(
        "select count(*) from audit.load_batches where status <> 'loading' "
        "and rows_read <> rows_loaded + rows_quarantined"
    ).fetchone()[0]
    assert broken == 0


def test_a_nul_byte_quarantines_its_row_only(conn, contracts, tmp_path):
    lines = [GOOD.format(n=30), GOOD.format(n=31).replace("伽师县人民医院", "医院\x00"), GOOD.format(n=32)]
    result = load_file(conn, contracts["medical_settlements"], _file(tmp_path, "nul.csv", lines, "utf-8"), D)
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("loaded", 2, 1)
    record, reasons = conn.execute(
        "select raw_record->>'医疗机构名称', reasons from quarantine.medical_settlements where _batch_id = %s",
        (result.batch_id,),
    ).fetchone()
    assert record == "医院\\x00"
    assert reasons == ["hospital: contains a NUL character (byte 0x00)"]


def test_a_nul_byte_in_the_header_rejects_the_file_and_keeps_its_records(conn, contracts, tmp_path):
    # e.g. a zip or a word-processor file saved under a .csv name: the header is not text
    path = tmp_path / "nul_header.csv"
    header = HEADER.replace("结算单号", "结算\x00单号")
    path.write_bytes(f"{header}\r\n{GOOD.format(n=33)}\r\n".encode())
    result = load_file(conn, contracts["medical_settlements"], path, D)
    assert result.status == "rejected"
    assert result.message == (
        "nul_header.csv: required column(s) missing from the header: settlement_id (结算单号/结算流水号/settlement_id)"
    )
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (1, 0, 1)
    header, status = conn.execute(
        "select header, status from audit.load_batches where batch_id = %s", (result.batch_id,)
    ).fetchone()
    assert (header[0], status) == ("结算\\x00单号", "rejected")  # kept as the quarantine keeps a NUL


def test_dates_after_the_extract_date_are_quarantined(conn, contracts, tmp_path):
    lines = [GOOD.format(n=40).replace("2024-05-20", "2031-01-03")]
    result = load_file(conn, contracts["medical_settlements"], _file(tmp_path, "future.csv", lines), D)
    reasons = conn.execute(
        "select reasons from quarantine.medical_settlements where _batch_id = %s", (result.batch_id,)
    ).fetchone()[0]
    assert reasons == ["discharge_date: 2031-01-03 is after the extract's date 2031-01-02"]


def test_a_file_of_another_type_is_rejected_not_ignored(conn, contracts, tmp_path):
    path = tmp_path / "medical_settlements_20310102.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    result = load_file(conn, contracts["medical_settlements"], path, D)
    assert result.status == "rejected"
    assert result.message == (
        "medical_settlements_20310102.xlsx: not a file this source sends (contract pattern *.csv)"
    )
    upper = load_file(conn, contracts["medical_settlements"], _file(tmp_path, "UPPER.CSV", [GOOD.format(n=41)]), D)
    assert (upper.status, upper.rows_loaded) == ("loaded", 1)


def test_a_rejected_gbk_file_keeps_its_original_text_in_quarantine(conn, contracts, tmp_path):
    path = tmp_path / "gbk_missing.csv"
    header = HEADER.replace(",个人自付", "")
    row = ",".join(GOOD.format(n=50).split(",")[:-1])
    path.write_bytes(f"{header}\r\n{row}\r\n".encode("gbk"))
    result = load_file(conn, contracts["medical_settlements"], path, D)
    assert result.status == "rejected"
    record = conn.execute(
        "select raw_record from quarantine.medical_settlements where _batch_id = %s", (result.batch_id,)
    ).fetchone()[0]
    assert record["姓名"] == "亚森·艾山" and record["结算单号"] == "JS50"


def test_gbk_after_a_long_ascii_prefix_is_gbk(conn, contracts, tmp_path):
    english = "settlement_id,person_id,name,hospital,admission_date,discharge_date,total_cost,basic_insurance,"
    english += "critical_illness_insurance,medical_assistance,out_of_pocket"
    ascii_row = GOOD.format(n=0).replace("亚森·艾山", "Yasen").replace("伽师县人民医院", "Hospital")
    rows = [ascii_row.replace("JS0,", f"JSA{n},") for n in range(4000)] + [GOOD.format(n=60)]
    path = tmp_path / "ascii_then_gbk.csv"
    path.write_bytes(("\r\n".join([english, *rows]) + "\r\n").encode("gbk"))
    result = load_file(conn, contracts["medical_settlements"], path, D)
    assert (result.status, result.rows_loaded) == ("loaded", 4001)
    name = conn.execute(
        "select person_name from raw.medical_settlements where settlement_id = 'JS60' and _batch_id = %s",
        (result.batch_id,),
    ).fetchone()[0]
    assert name == "亚森·艾山"


def test_withdrawn_files_stop_feeding_the_warehouse(conn, contracts, tmp_path):
    from household_monitoring.loading import withdraw_missing

    day = date(2031, 2, 2)  # a date of its own
    kept = load_file(conn, contracts["medical_settlements"], _file(tmp_path, "kept.csv", [GOOD.format(n=71)]), day)
    gone = load_file(conn, contracts["medical_settlements"], _file(tmp_path, "gone.csv", [GOOD.format(n=70)]), day)
    assert withdraw_missing(conn, contracts["medical_settlements"], day, ["kept.csv"]) == ["gone.csv"]
    status, message = conn.execute(
        "select status, message from audit.load_batches where batch_id = %s", (gone.batch_id,)
    ).fetchone()
    assert (status, message) == ("superseded", "withdrawn: the file is no longer in the landing zone")
    assert _counts(conn, gone.batch_id) == (0, 0)
    assert _counts(conn, kept.batch_id) == (1, 0)


def test_the_same_file_on_another_date_is_flagged(conn, contracts, tmp_path):
    path = _file(tmp_path, "twice.csv", [GOOD.format(n=80)])
    first = load_file(conn, contracts["medical_settlements"], path, date(2031, 3, 1))
    second = load_file(conn, contracts["medical_settlements"], path, date(2031, 3, 2))
    assert second.message == (
        f"twice.csv: same content as batch {first.batch_id} (twice.csv, 2031-03-01): its records keep their first date"
    )


def test_a_sub_folder_in_a_date_folder_is_reported(conn, contracts, tmp_path):
    from household_monitoring.loading import landed_files

    day = date(2031, 4, 4)
    folder = tmp_path / "medical_settlements" / day.isoformat()
    (folder / "sub").mkdir(parents=True)
    found = landed_files(tmp_path, contracts["medical_settlements"], day)
    assert [p.name for p in found] == ["sub"]
    result = load_file(conn, contracts["medical_settlements"], found[0], day)
    assert (result.status, result.message) == (
        "rejected",
        "sub: a folder, not a file: files go directly in <source>/<date>/",
    )


def test_key_fingerprints_match_equal_keys_only():
    import numpy as np
    import pyarrow as pa

    from household_monitoring.loading import key_fingerprints

    keys = [f"JS{n:010d}" for n in range(200_000)] + ["JS0000000007", "", "a", "a\x00", "JS0000000007"]
    fingerprints = key_fingerprints(pa.array(keys))
    assert len(np.unique(fingerprints)) == 200_000 + 3  # the two repeats of JS0000000007 add nothing
    assert fingerprints[7] == fingerprints[200_000] == fingerprints[200_004]
    sliced = key_fingerprints(pa.array(keys).slice(200_000))
    assert sliced.tolist() == fingerprints[200_000:].tolist()  # an offset into Arrow buffers


def test_extra_column_values_keep_quotes_backslashes_and_line_breaks(conn, contracts, tmp_path):
    values = []
    rows = {"vectorised": GOOD.format(n=90) + ',"say ""hi"" \\ to C:\\dir' + "\n" + 'next line"'}
    rows["per_row"] = GOOD.format(n=91) + ",\x01odd"  # a rare control character: the per-row path
    for name, row in rows.items():
        path = tmp_path / f"extra_{name}.csv"
        path.write_text(f"{HEADER},备注\n{row}\n", encoding="utf-8")
        result = load_file(conn, contracts["medical_settlements"], path, date(2031, 5, 5))
        assert (result.status, result.rows_loaded) == ("loaded", 1)
        values += conn.execute(
            "select _extra->>'备注' from raw.medical_settlements where _batch_id = %s", (result.batch_id,)
        ).fetchall()
    assert values == [('say "hi" \\ to C:\\dir\nnext line',), ("\x01odd",)]


def test_migrate_adds_the_optional_columns_to_tables_of_an_older_release(fresh_db):
    from household_monitoring.database import connect, migrate

    with connect(fresh_db, autocommit=True) as conn:
        conn.execute("alter table raw.medical_settlements drop column _sheet, drop column _extra")
        conn.execute("alter table quarantine.medical_settlements drop column _sheet")
        migrate(conn)
        migrate(conn)  # idempotent
        columns = conn.execute(
            """select table_schema, column_name from information_schema.columns
               where table_name = 'medical_settlements' and column_name in ('_sheet', '_extra') order by 1, 2"""
        ).fetchall()
    assert columns == [("quarantine", "_sheet"), ("raw", "_extra"), ("raw", "_sheet")]


def test_repeated_keys_are_found_across_blocks_and_partitions():
    """Issue 10: fingerprints spool to disk by partition; repeats across blocks are found exactly."""
    import numpy as np

    from household_monitoring.loading import _RepeatedKeys

    high = np.uint64(2**63 + 1)  # another partition than the small fingerprints
    with _RepeatedKeys() as repeats:
        repeats.add(np.array([1, 2, 3], np.uint64), np.array([2, 3, 4]))
        repeats.add(np.array([2, high, 3, 9], np.uint64), np.array([5, 6, 7, 8]))
        repeats.add(np.array([high], np.uint64), np.array([11]))
        assert repeats.candidates() == [3, 4, 5, 6, 7, 11]
    with _RepeatedKeys() as nothing:
        nothing.add(np.array([1, 2], np.uint64), np.array([2, 3]))
        assert nothing.candidates() == []


def test_plain_cells_sent_as_written_load_the_same_values_as_formatted_ones(conn, contracts, tmp_path):
    """A block of plain amounts and ISO dates goes to COPY as the cells themselves (issue 10).

    The same records in a block that takes the regex path (one ``￥`` amount, one date with
    slashes) are formatted
    from their typed values: both must store the same yuan and dates.
    """
    lines = [
        "JS1,653129201902207995,亚森·艾山,伽师县人民医院,2024-05-08,2024-05-20,100,60.5,0,007.10,32.40",
        "JS2,653129201902207995,亚森·艾山,伽师县人民医院,2024-02-29,2024-03-01,0.5,0.25,0.05,0,0.2",
    ]
    plain = load_file(conn, contracts["medical_settlements"], _file(tmp_path, "plain.csv", lines), D)
    formatted = load_file(
        conn,
        contracts["medical_settlements"],
        _file(
            tmp_path,
            "formatted.csv",
            [*lines, lines[0].replace("JS1", "JS3").replace(",100,", ",￥100,").replace("2024-05-08", "2024/05/08")],
        ),
        D,
    )
    assert (plain.rows_loaded, formatted.rows_loaded) == (2, 3)
    query = """select settlement_id, admission_date, discharge_date, total_cost, basic_insurance,
                      critical_illness_insurance, medical_assistance, out_of_pocket, _logical_date
               from raw.medical_settlements where _batch_id = %s and settlement_id <> 'JS3' order by 1"""
    rows = conn.execute(query, (plain.batch_id,)).fetchall()
    assert rows == conn.execute(query, (formatted.batch_id,)).fetchall()
    yuan = [  # total, basic, critical illness, assistance, out of pocket
        [Decimal(v) for v in ("100.00", "60.50", "0.00", "7.10", "32.40")],
        [Decimal(v) for v in ("0.50", "0.25", "0.05", "0.00", "0.20")],
    ]
    assert rows == [
        ("JS1", date(2024, 5, 8), date(2024, 5, 20), *yuan[0], D),
        ("JS2", date(2024, 2, 29), date(2024, 3, 1), *yuan[1], D),
    ]
    assert [str(v) for v in rows[0][3:8]] == ["100.00", "60.50", "0.00", "7.10", "32.40"]


def test_keys_are_compared_by_value_not_by_spelling():
    """A key holding an amount: ``100.5`` and ``100.50`` are one key (as stored), whichever cells COPY gets."""
    import dataclasses

    import numpy as np
    import pyarrow as pa

    from household_monitoring.contracts import load_contracts
    from household_monitoring.loading import _BlockChecker, key_fingerprints
    from household_monitoring.readers import Block

    contract = dataclasses.replace(load_contracts()["medical_settlements"], keys=("settlement_id", "total_cost"))
    cells = dict(zip(contract.column_names, GOOD.format(n=1).split(","), strict=True))
    rows = [dict(cells, total_cost="31562.4"), dict(cells, total_cost="31562.40")]
    block = Block([pa.array([r[n] for r in rows]) for n in contract.column_names], np.array([2, 3]))
    table, bad, _, keys = _BlockChecker(contract, contract.column_names, 1, D).check(block)
    assert (table.num_rows, bad.size) == (2, 0)
    assert keys.to_pylist() == ["JS1\x1f31562.40", "JS1\x1f31562.40"]
    assert len(set(key_fingerprints(keys).tolist())) == 1
