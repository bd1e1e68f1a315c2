"""Every kind of damaged or surprising departmental file, one fixture each, with its exact outcome.

Fixtures: ``tests/fixtures/bad_files/<kind>/`` (written by ``make_fixtures.py`` there,
synthetic IDs and names). Each test loads its files with the real loader into the
session's database and asserts the batch status, the counts, the exact quarantine
reasons (file, row, column) and the values loaded. The last test loads every fixture
and reconciles the ledger with the rows in raw and quarantine, in SQL.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from household_monitoring.contracts import load_contract
from household_monitoring.database import connect, migrate
from household_monitoring.loading import load_file

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bad_files"
DAY = date(2032, 1, 5)  # dates no other test uses
ID_A, ID_B, ID_C = "653129198001010015", "65312919750612008X", "653129201902207995"


@pytest.fixture(scope="module")
def all_contracts(contracts, test_db):
    """The departments' contracts plus the Excel fixture's own (tables created in the test database)."""
    excel = load_contract(FIXTURES / "excel" / "fixture_excel.yml")
    with connect(test_db) as conn:
        migrate(conn, {"fixture_excel": excel})
    return {**contracts, "fixture_excel": excel}


def _load(conn, contract, rel: str, day: date = DAY):
    return load_file(conn, contract, FIXTURES / rel, day)


def _outcome(result) -> tuple:
    return (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined)


def _quarantine(conn, source: str, batch_id: int) -> list[tuple]:
    return conn.execute(
        f"select _row_number, _sheet, reasons from quarantine.{source} where _batch_id = %s "
        "order by _sheet nulls first, _row_number",
        (batch_id,),
    ).fetchall()


def _raw(conn, source: str, columns: str, batch_id: int) -> list[tuple]:
    return conn.execute(
        f"select {columns} from raw.{source} where _batch_id = %s order by _sheet nulls first, _row_number",
        (batch_id,),
    ).fetchall()


def _encoding(conn, batch_id: int) -> str | None:
    return conn.execute("select encoding from audit.load_batches where batch_id = %s", (batch_id,)).fetchone()[0]


# --- encodings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "encoding", "third_name"),
    [
        ("utf8.csv", "utf-8", "张䶮"),
        ("utf8_bom.csv", "utf-8-sig", "张䶮"),
        ("gbk.csv", "gb18030", "赵敏"),  # GB18030 reads GBK (its subset)
        ("gb18030_rare.csv", "gb18030", "张䶮"),  # 䶮 (U+4DAE) exists in GB18030, not in GBK
        ("utf16le_bom.csv", "utf-16", "张䶮"),
        ("utf16be_bom.csv", "utf-16", "张䶮"),
        ("utf16le_no_bom.csv", "utf-16-le", "张䶮"),
    ],
)
def test_each_encoding_reads_the_same_names(conn, all_contracts, name, encoding, third_name):
    result = _load(conn, all_contracts["medical_settlements"], f"encodings/{name}")
    assert _outcome(result) == ("loaded", 3, 3, 0)
    assert _encoding(conn, result.batch_id) == encoding
    names = [r[0] for r in _raw(conn, "medical_settlements", "person_name", result.batch_id)]
    assert names == ["王堃", "李喆", third_name]  # a UTF-8 file is never read as GB18030 mojibake


def test_undecodable_bytes_quarantine_their_record_naming_line_column_and_bytes(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "encodings/utf8_with_bad_byte.csv")
    assert _outcome(result) == ("loaded", 3, 2, 1)
    assert _encoding(conn, result.batch_id) == "utf-8"
    assert _quarantine(conn, "medical_settlements", result.batch_id) == [
        (4, None, ["person_name: bytes that are not utf-8 at line 4: ff fe"])
    ]
    record = conn.execute(
        "select raw_record->>'姓名' from quarantine.medical_settlements where _batch_id = %s and _row_number = 4",
        (result.batch_id,),
    ).fetchone()[0]
    assert record == "\\xff\\xfe"  # the bytes as escapes in the quarantine, never U+FFFD


def test_a_damaged_byte_pair_in_gb18030_quarantines_its_line_only(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "encodings/gb18030_damaged_pair.csv")
    assert _outcome(result) == ("loaded", 4, 3, 1)
    assert _encoding(conn, result.batch_id) == "gb18030"
    names = [r[0] for r in _raw(conn, "medical_settlements", "person_name", result.batch_id)]
    assert names == ["王堃", "李喆", "赵敏"]
    assert _quarantine(conn, "medical_settlements", result.batch_id) == [
        (5, None, ["person_name: bytes that are not gb18030 at line 5: bd"])
    ]
    record = conn.execute(
        "select raw_record->>'姓名' from quarantine.medical_settlements where _batch_id = %s",
        (result.batch_id,),
    ).fetchone()[0]
    assert record == "\\xbd 花"


def test_a_lone_utf16_surrogate_rejects_the_batch(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "encodings/utf16_lone_surrogate.csv")
    assert _outcome(result) == ("rejected", 3, 0, 3)
    assert result.message == (
        "utf16_lone_surrogate.csv: bytes that are not utf-16 at line 4, byte offset 664: 00 d8"
        " (illegal UTF-16 surrogate)"
    )


# --- resident IDs ------------------------------------------------------------------------------------------------


def test_resident_ids_as_departments_write_them(conn, all_contracts):
    result = _load(conn, all_contracts["household_register"], "ids/register_ids.csv")
    assert _outcome(result) == ("loaded", 8, 3, 5)
    assert _raw(conn, "household_register", "_row_number, person_id", result.batch_id) == [
        (2, ID_A),
        (3, ID_B),  # ' 65312919750612008x ': spaces stripped, x upper-cased
        (4, "653129197506120098"),  # 15-digit 653129750612009 converted (legacy_15: convert)
    ]
    assert _quarantine(conn, "household_register", result.batch_id) == [
        (5, None, ["person_id: resident ID check digit (MOD 11-2) is wrong"]),
        (6, None, ["person_id: resident ID holds an impossible birth date"]),
        (
            7,
            None,
            [
                "person_id: resident ID written as a number (a float keeps ~15 digits, the ID is lost): "
                "'653129201902207995.0'"
            ],
        ),
        (
            8,
            None,
            ["person_id: resident ID written as a number (a float keeps ~15 digits, the ID is lost): '6.53129E+17'"],
        ),
        (9, None, ["person_id: required value is empty"]),
    ]


def test_a_household_number_typed_as_a_number_is_quarantined_not_loaded_short(conn, all_contracts):
    register = _load(conn, all_contracts["household_register"], "ids/register_short_household.csv")
    assert _outcome(register) == ("loaded", 2, 1, 1)
    assert _quarantine(conn, "household_register", register.batch_id) == [
        (3, None, ["household_id: does not match ^\\d{16}$: '123'"])
    ]
    workbook = _load(conn, all_contracts["agriculture_income"], "excel/agriculture_short_household.xlsx")
    assert _outcome(workbook) == ("loaded", 2, 1, 1)
    assert _raw(conn, "agriculture_income", "household_id", workbook.batch_id) == [("6531291000019001",)]
    assert _quarantine(conn, "agriculture_income", workbook.batch_id) == [
        (3, "Sheet", ["household_id: does not match ^\\d{16}$: '123'"])
    ]


def test_a_15_digit_id_is_quarantined_where_the_contract_does_not_convert(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "ids/settlement_legacy_id.csv")
    assert _outcome(result) == ("loaded", 2, 1, 1)
    assert _quarantine(conn, "medical_settlements", result.batch_id) == [
        (3, None, ["person_id: 15-digit resident ID (before 1999); the contract does not convert them (legacy_15)"])
    ]


# --- dates -------------------------------------------------------------------------------------------------------


def test_mixed_date_formats_with_day_month_order_from_the_contract(conn, all_contracts):
    dmy = dataclasses.replace(all_contracts["medical_settlements"], date_order="DMY")
    result = _load(conn, dmy, "dates/mixed_formats.csv")
    assert _outcome(result) == ("loaded", 8, 6, 2)
    assert _raw(conn, "medical_settlements", "settlement_id, admission_date", result.batch_id) == [
        ("FX1", date(2024, 3, 15)),  # 2024-03-15
        ("FX2", date(2024, 3, 15)),  # 2024/3/15
        ("FX3", date(2024, 3, 15)),  # 20240315
        ("FX4", date(2024, 3, 15)),  # 15/03/2024
        ("FX5", date(2024, 4, 3)),  # 03/04/2024 is 3 April because the contract says DMY
        ("FX6", date(2024, 3, 15)),  # 2024年3月15日
    ]
    reasons = [r[2][0] for r in _quarantine(conn, "medical_settlements", result.batch_id)]
    assert reasons[0] == "admission_date: impossible date: '2023-02-29'"
    assert reasons[1].startswith("admission_date: not a date in %Y-%m-%d or ") and reasons[1].endswith(
        " or %d/%m/%Y or %d-%m-%Y or %d.%m.%Y: 'yesterday'"
    )


def test_without_a_date_order_day_month_dates_are_refused_never_guessed(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "dates/mixed_formats.csv", date(2032, 1, 6))
    assert _outcome(result) == ("loaded", 8, 4, 4)
    unknown = "admission_date: day-month order unknown (the contract sets no date_order, none is guessed): "
    assert [(*r[:2], r[2][0]) for r in _quarantine(conn, "medical_settlements", result.batch_id)][:3] == [
        (5, None, unknown + "'15/03/2024'"),
        (6, None, unknown + "'03/04/2024'"),
        (8, None, "admission_date: impossible date: '2023-02-29'"),
    ]


# --- amounts -----------------------------------------------------------------------------------------------------


def test_amounts_as_finance_exports_write_them_and_malformed_ones(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "amounts/amounts.csv")
    assert _outcome(result) == ("loaded", 10, 4, 6)
    assert _raw(conn, "medical_settlements", "settlement_id, total_cost, out_of_pocket", result.batch_id) == [
        ("FX1", Decimal("1000.00"), Decimal("350.00")),  # 1,000.00
        ("FX2", Decimal("1000.00"), Decimal("350.00")),  # full-width digits
        ("FX3", Decimal("1000.00"), Decimal("350.00")),  # ￥1000.00 and 350.00元
        ("FX4", Decimal("1000.00"), Decimal("350.00")),  # ¥1,000
    ]
    assert _quarantine(conn, "medical_settlements", result.batch_id) == [
        (6, None, ["total_cost: not an amount in yuan: '1,,0'"]),
        (7, None, ["total_cost: negative amount: '-1000.00'"]),
        (8, None, ["total_cost: not an amount in yuan: '1000.001'"]),
        (
            9,
            None,
            [
                "out_of_pocket: 351.00 is not total_cost - basic_insurance - critical_illness_insurance"
                " - medical_assistance = 350.00 (rule out_of_pocket_balances)"
            ],
        ),
        (10, None, ["total_cost: not an amount in yuan: '12,34.00'"]),
        (11, None, ["total_cost: not an amount in yuan: '1000000000000.00'"]),  # beyond numeric(14,2)
    ]


def test_a_full_width_comma_in_an_amount_is_ambiguous(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "amounts/fullwidth_comma.csv")
    assert _outcome(result) == ("loaded", 2, 1, 1)
    assert _raw(conn, "medical_settlements", "settlement_id, total_cost", result.batch_id) == [
        ("FX2", Decimal("1000.00"))
    ]
    assert _quarantine(conn, "medical_settlements", result.batch_id) == [
        (
            2,
            None,
            [
                "total_cost: a full-width comma (，) in an amount is ambiguous (it separates list items"
                " in Chinese text): '1，000.00'"
            ],
        )
    ]


# --- whole files -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["zero_bytes.csv", "only_bom.csv"])
def test_an_empty_file_is_rejected(conn, all_contracts, name):
    result = _load(conn, all_contracts["medical_settlements"], f"files/{name}")
    assert _outcome(result) == ("rejected", 0, 0, 0)
    assert result.message == f"{name}: the file is empty (no header)"


def test_a_header_only_file_loads_nothing_and_fails_the_gate(conn, test_db, all_contracts):
    from household_monitoring.quality import HELD_BACK_ADVICE, validate_batch

    contract = all_contracts["medical_settlements"]
    result = _load(conn, contract, "files/header_only.csv")
    assert _outcome(result) == ("loaded", 0, 0, 0)
    gate = validate_batch(conn, test_db, contract, result.batch_id)
    assert gate.status == "failed_validation"
    assert gate.message == (
        "header_only.csv: failed blocking expectations: expect_table_row_count_to_be_between (volume: a day's "
        f"extract has at least one record): observed 0. {HELD_BACK_ADVICE}"
    )


def test_a_workbook_sent_under_a_csv_name_is_rejected_with_what_to_ask_for(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "files/workbook_named_csv.csv")
    assert _outcome(result) == ("rejected", 2, 0, 2)
    problem = (
        "an Excel workbook (.xlsx) or another zip file with a .csv name, not CSV text: ask the department to "
        "export it as CSV (Excel: Save As, CSV UTF-8) and send it again, then re-run the date"
    )
    assert result.message == f"workbook_named_csv.csv: {problem}"
    quarantined = conn.execute(
        "select _row_number, raw_record ->> '结算单号', raw_record ->> '个人自付', reasons"
        " from quarantine.medical_settlements where _batch_id = %s order by _row_number",
        (result.batch_id,),
    ).fetchall()
    assert quarantined == [  # the workbook's cells, readable, not its zip bytes
        (2, "FX41", "350.00", [f"batch rejected: {problem}"]),
        (3, "FX42", "120.00", [f"batch rejected: {problem}"]),
    ]


@pytest.mark.parametrize(
    ("head", "what"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "an Excel 97-2003 workbook (.xls) or another Office file"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
    ],
)
def test_an_xls_or_pdf_under_a_csv_name_is_rejected_as_what_it_is(conn, all_contracts, tmp_path, head, what):
    path = tmp_path / "medical_settlements_20240715.csv"
    path.write_bytes(head)
    result = load_file(conn, all_contracts["medical_settlements"], path, DAY)
    assert _outcome(result) == ("rejected", 0, 0, 0)
    assert result.message.startswith(f"medical_settlements_20240715.csv: {what} with a .csv name, not CSV text: ")


def test_records_cut_split_or_misshapen(conn, all_contracts):
    contract = all_contracts["medical_settlements"]
    truncated = _load(conn, contract, "files/truncated_last_record.csv")
    assert _outcome(truncated) == ("loaded", 3, 2, 1)
    assert _quarantine(conn, "medical_settlements", truncated.batch_id) == [
        (
            4,
            None,
            [
                "row has 3 fields, the header has 11; "
                "line 4: the last record has no line ending: the file may have been cut short"
            ],
        )
    ]
    newline = _load(conn, contract, "files/quoted_newline.csv")
    assert _outcome(newline) == ("loaded", 2, 2, 0)
    assert _raw(conn, "medical_settlements", "_row_number, hospital", newline.batch_id) == [
        (2, "县人民医院\n住院部"),
        (3, "县人民医院"),  # row numbers count records, not lines
    ]
    counts = _load(conn, contract, "files/wrong_field_counts.csv")
    assert _outcome(counts) == ("loaded", 4, 2, 2)
    assert _quarantine(conn, "medical_settlements", counts.batch_id) == [
        (3, None, ["row has 12 fields, the header has 11"]),
        (4, None, ["row has 10 fields, the header has 11"]),
    ]
    extra = conn.execute(
        "select raw_record->>'_field_12' from quarantine.medical_settlements where _batch_id = %s and _row_number = 3",
        (counts.batch_id,),
    ).fetchone()[0]
    assert extra == "多"


def test_a_file_cut_inside_its_last_field_quarantines_that_record(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "files/cut_inside_last_field.csv")
    assert _outcome(result) == ("loaded", 3, 2, 1)
    assert _raw(conn, "medical_settlements", "settlement_id, discharge_date", result.batch_id) == [
        ("FX1", date(2024, 5, 20)),
        ("FX2", date(2024, 5, 20)),
    ]  # never FX3 on 2024-05-02
    assert _quarantine(conn, "medical_settlements", result.batch_id) == [
        (4, None, ["line 4: the last record has no line ending: the file may have been cut short"])
    ]


def test_a_stray_quote_is_confined_to_its_line(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "files/stray_quote.csv")
    assert _outcome(result) == ("loaded", 51, 50, 1)  # 52 lines: the header and 51 records
    rows = _raw(conn, "medical_settlements", "_row_number, settlement_id", result.batch_id)
    assert (rows[0], rows[1], rows[-1]) == ((2, "FX1"), (4, "FX3"), (52, "FX51"))
    assert _quarantine(conn, "medical_settlements", result.batch_id) == [
        (3, None, ["row has 4 fields, the header has 11 (line 3: a quote that is not closed on its line)"])
    ]


def test_a_quote_inside_a_quoted_field_quarantines_its_record_and_a_doubled_one_loads(conn, all_contracts):
    """`"夏普"吐勒乡卫生院"`: lenient CSV readers make it 夏普吐勒乡卫生院" without a word (break-it finding)."""
    result = _load(conn, all_contracts["medical_settlements"], "files/quote_inside_quoted_field.csv")
    assert _outcome(result) == ("loaded", 4, 3, 1)
    assert _raw(conn, "medical_settlements", "_row_number, settlement_id, hospital", result.batch_id) == [
        (2, "FX1", "县人民医院"),
        (4, "FX3", '县"人民"医院'),
        (5, "FX4", "县人民医院"),
    ]
    assert _quarantine(conn, "medical_settlements", result.batch_id) == [
        (
            3,
            None,
            [
                'hospital: a quote inside a quoted field at line 3 (a quote in a value is written as two quotes ""):'
                " the value is not known"
            ],
        )
    ]


def test_a_file_twice_late_or_again(conn, all_contracts):
    contract = all_contracts["medical_settlements"]
    first = _load(conn, contract, "files/arrives_twice.csv", date(2032, 2, 10))
    again = _load(conn, contract, "files/arrives_twice.csv", date(2032, 2, 10))  # a retry: replaces
    later = _load(conn, contract, "files/arrives_twice.csv", date(2032, 2, 11))  # the same bytes the next day
    late = _load(conn, contract, "files/arrives_twice.csv", date(2032, 2, 3))  # late, for an earlier date
    statuses = conn.execute(
        "select batch_id, logical_date, status, superseded_by from audit.load_batches where batch_id = any(%s)"
        " order by batch_id",
        ([first.batch_id, again.batch_id, later.batch_id, late.batch_id],),
    ).fetchall()
    assert [s[2:] for s in statuses] == [
        ("superseded", again.batch_id),
        ("loaded", None),
        ("loaded", None),
        ("loaded", None),
    ]
    assert later.message == (
        f"arrives_twice.csv: same content as batch {again.batch_id} (arrives_twice.csv, 2032-02-10):"
        " its records keep their first date"
    )
    assert late.message == (  # the earliest twin, of a later date
        f"arrives_twice.csv: same content as batch {again.batch_id} (arrives_twice.csv, 2032-02-10, a later date):"
        " its records are known from this date now"
    )
    raw = conn.execute(
        "select count(*) from raw.medical_settlements where _batch_id = any(%s)",
        ([first.batch_id, again.batch_id],),
    ).fetchone()[0]
    assert raw == 2  # the retry did not duplicate


# --- header drift ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["renamed.csv", "reordered.csv"])
def test_renamed_and_reordered_headers_map_through_the_aliases(conn, all_contracts, name):
    result = _load(conn, all_contracts["medical_settlements"], f"header_drift/{name}")
    assert _outcome(result) == ("loaded", 1, 1, 0)
    columns = "settlement_id, person_id, person_name, discharge_date, total_cost, out_of_pocket"
    assert _raw(conn, "medical_settlements", columns, result.batch_id) == [
        ("FX1", ID_A, "艾力", date(2024, 5, 20), Decimal("1000.00"), Decimal("350.00"))
    ]


def test_a_missing_required_column_rejects_the_batch(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "header_drift/missing_required.csv")
    assert _outcome(result) == ("rejected", 2, 0, 2)
    assert result.message == (
        "missing_required.csv: required column(s) missing from the header: "
        "out_of_pocket (个人自付/个人负担/个人自付金额/out_of_pocket)"
    )


def test_extra_columns_are_kept_in_raw_and_reported(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "header_drift/extra_columns.csv")
    assert _outcome(result) == ("loaded", 2, 2, 0)
    assert result.message == "extra_columns.csv: extra columns kept in raw._extra: 科室, 备注"
    assert _raw(conn, "medical_settlements", "settlement_id, _extra", result.batch_id) == [
        ("FX1", {"科室": "内科", "备注": "复查"}),
        ("FX2", {"科室": "外科", "备注": ""}),
    ]
    ledger = conn.execute(
        "select extra_columns from audit.load_batches where batch_id = %s", (result.batch_id,)
    ).fetchone()[0]
    assert ledger == ["科室", "备注"]


def test_two_extra_columns_under_one_header_both_keep_their_values(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "header_drift/repeated_extra_columns.csv")
    assert _outcome(result) == ("loaded", 2, 2, 0)
    assert result.message == ("repeated_extra_columns.csv: extra columns kept in raw._extra: 备注, 备注 (2), _field_14")
    assert _raw(conn, "medical_settlements", "settlement_id, _extra", result.batch_id) == [
        ("FX1", {"备注": "复查", "备注 (2)": "转院", "_field_14": "x"}),
        ("FX2", {"备注": "", "备注 (2)": "门诊", "_field_14": ""}),
    ]


def test_a_contract_column_twice_rejects_the_batch_and_quarantines_both_values(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "header_drift/repeated_contract_column.csv")
    assert _outcome(result) == ("rejected", 1, 0, 1)
    assert result.message == (
        "repeated_contract_column.csv: headers '个人自付' and '个人自付' both map to column 'out_of_pocket'"
    )
    record = conn.execute(
        "select raw_record from quarantine.medical_settlements where _batch_id = %s", (result.batch_id,)
    ).fetchone()[0]
    assert (record["个人自付"], record["个人自付 (2)"]) == ("350.00", "300.00")


def test_a_header_written_as_a_generated_label_keeps_both_values(conn, all_contracts, tmp_path):
    from household_monitoring.sample_data.generator import MEDICAL_HEADER

    def write(name: str, extra_header: list[str], rows: list[list[str]]) -> Path:
        line = ",".join([*MEDICAL_HEADER, *extra_header]) + "\n"
        line += "".join(
            f"FX{60 + i},{ID_A},艾力,县人民医院,2024-05-08,2024-05-20,100.00,50.00,0.00,0.00,50.00,"
            + ",".join(row)
            + "\n"
            for i, row in enumerate(rows)
        )
        (tmp_path / name).write_text(line, encoding="utf-8")
        return tmp_path / name

    contract = all_contracts["medical_settlements"]
    clash = load_file(conn, contract, write("clash.csv", ["备注", "备注", "备注 (2)"], [["p", "q", "r"]]), DAY)
    assert _raw(conn, "medical_settlements", "_extra", clash.batch_id) == [
        ({"备注": "p", "备注 (2)#13": "q", "备注 (2)": "r"},)
    ]
    field = load_file(conn, contract, write("field.csv", ["_field_13"], [["hv"], ["hv", "beyond"]]), DAY)
    assert _outcome(field) == ("loaded", 2, 1, 1)
    record = conn.execute(
        "select raw_record from quarantine.medical_settlements where _batch_id = %s", (field.batch_id,)
    ).fetchone()[0]
    assert (record["_field_13"], record["_field_13#13"]) == ("hv", "beyond")  # its header's, and beyond it


def test_a_nul_in_an_extra_header_is_kept_as_in_the_quarantine(conn, all_contracts, tmp_path):
    from household_monitoring.sample_data.generator import MEDICAL_HEADER

    path = tmp_path / "nul_header.csv"
    row = f"FX80,{ID_A},艾力,县人民医院,2024-05-08,2024-05-20,100.00,50.00,0.00,0.00,50.00,a"
    path.write_text(",".join([*MEDICAL_HEADER, "备\x00注"]) + "\n" + row + "\n", encoding="utf-8")
    result = load_file(conn, all_contracts["medical_settlements"], path, DAY)
    assert _outcome(result) == ("loaded", 1, 1, 0)
    assert _raw(conn, "medical_settlements", "_extra", result.batch_id) == [({"备\\x00注": "a"},)]


def test_quarantine_reasons_keep_line_breaks_quotes_and_backslashes(conn):
    from household_monitoring.loading import _array_element

    reason = 'could not be loaded: a\nDETAIL: "b" \\ \x00'
    assert conn.execute("select %s::text[]", ("{" + _array_element(reason) + "}",)).fetchone()[0] == [
        reason.replace("\x00", "\\x00")
    ]


def _workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_cells_under_blank_headers_of_a_worksheet_are_kept_as_in_a_csv(conn, all_contracts, tmp_path):
    book = _workbook(
        tmp_path / "blank_headers.xlsx",
        {
            "一乡": [
                ["身份证号", "编码", "日期", "金额", "", "备注"],
                [ID_A, "001250", "2024-03-15", 1, "a", "b", "c"],
            ],
            "二乡": [["备注", "身份证号", "编码", "日期", "金额"], ["d", ID_B, "001251", "2024-03-16", 2, "e"]],
        },
    )
    result = load_file(conn, all_contracts["fixture_excel"], book, DAY)
    assert _outcome(result) == ("loaded", 2, 2, 0)
    assert _raw(conn, "fixture_excel", "code, _extra", result.batch_id) == [
        ("001250", {"_field_5": "a", "备注": "b", "_field_7": "c"}),
        ("001251", {"_field_5": "e", "备注": "d", "_field_7": ""}),
    ]


def test_a_rejected_workbook_quarantines_each_sheet_under_its_own_header(conn, all_contracts, tmp_path):
    book = _workbook(
        tmp_path / "rejected.xlsx",
        {
            "一乡": [["身份证号", "编码", "日期", "金额"], [ID_A, "001252", "2024-03-15", 1]],
            "二乡": [["金额", "身份证号", "日期"], [2, ID_B, "2024-03-16"]],  # no 编码: the batch is rejected
        },
    )
    result = load_file(conn, all_contracts["fixture_excel"], book, DAY)
    assert _outcome(result) == ("rejected", 2, 0, 2)
    assert conn.execute(
        "select _sheet, _row_number, raw_record from quarantine.fixture_excel where _batch_id = %s order by 1",
        (result.batch_id,),
    ).fetchall() == [
        ("一乡", 2, {"身份证号": ID_A, "编码": "001252", "日期": "2024-03-15", "金额": "1"}),
        ("二乡", 2, {"金额": "2", "身份证号": ID_B, "日期": "2024-03-16"}),
    ]


def test_every_sheet_of_a_workbook_under_a_csv_name_is_quarantined(conn, all_contracts, tmp_path):
    from household_monitoring.sample_data.generator import MEDICAL_HEADER

    row = ["FX70", ID_A, "艾力", "县人民医院", "2024-05-08", "2024-05-20", "100.00", "50.00", "0.00", "0.00", "50.00"]
    book = _workbook(
        tmp_path / "medical_settlements_two_sheets.xlsx",
        {"一月": [MEDICAL_HEADER, row], "二月": [MEDICAL_HEADER, ["FX71", *row[1:]], row]},
    )
    disguised = book.rename(tmp_path / "medical_settlements_two_sheets.csv")
    result = load_file(conn, all_contracts["medical_settlements"], disguised, DAY)
    assert _outcome(result) == ("rejected", 3, 0, 3)
    assert conn.execute(
        "select _sheet, _row_number, raw_record ->> '结算单号' from quarantine.medical_settlements"
        " where _batch_id = %s order by 1, 2",
        (result.batch_id,),
    ).fetchall() == [("一月", 2, "FX70"), ("二月", 2, "FX71"), ("二月", 3, "FX70")]


def test_repeated_extra_headers_line_up_across_sheets(conn, all_contracts):
    result = _load(conn, all_contracts["fixture_excel"], "excel/repeated_extra_columns.xlsx")
    assert _outcome(result) == ("loaded", 2, 2, 0)
    assert _raw(conn, "fixture_excel", "code, _sheet, _extra", result.batch_id) == [
        ("001240", "一乡", {"备注": "复查", "备注 (2)": "转院"}),
        ("001241", "二乡", {"备注": "门诊", "备注 (2)": "住院"}),
    ]


# --- duplicates --------------------------------------------------------------------------------------------------


def test_duplicates_in_one_file_and_a_null_key(conn, all_contracts):
    result = _load(conn, all_contracts["medical_settlements"], "duplicates/in_one_file.csv")
    assert _outcome(result) == ("loaded", 6, 2, 4)
    assert _raw(conn, "medical_settlements", "_row_number, settlement_id", result.batch_id) == [(2, "FX1"), (3, "FX2")]
    conflict = "settlement_id: 'FX3' is in rows 5, 6 with different values (which one is right cannot be told)"
    assert _quarantine(conn, "medical_settlements", result.batch_id) == [
        (4, None, ["settlement_id: duplicate of row 2 (the same record twice in the file)"]),
        (5, None, [conflict]),
        (6, None, [conflict]),
        (7, None, ["settlement_id: required value is empty"]),
    ]
    record = conn.execute(
        "select raw_record from quarantine.medical_settlements where _batch_id = %s and _row_number = 6",
        (result.batch_id,),
    ).fetchone()[0]
    assert (record["结算单号"], record["个人自付"], record["医疗救助支付"]) == ("FX3", "340.00", "60.00")


def test_a_correction_in_a_later_file_keeps_both_versions_in_raw(conn, all_contracts):
    contract = all_contracts["medical_settlements"]
    day1 = _load(conn, contract, "duplicates/day1.csv", date(2032, 3, 1))
    day2 = _load(conn, contract, "duplicates/day2_correction.csv", date(2032, 3, 2))
    assert (_outcome(day1), _outcome(day2)) == (("loaded", 2, 2, 0), ("loaded", 2, 2, 0))
    versions = conn.execute(
        "select _logical_date, out_of_pocket from raw.medical_settlements where settlement_id = 'FX11'"
        " and _batch_id = any(%s) order by _logical_date",
        ([day1.batch_id, day2.batch_id],),
    ).fetchall()
    assert versions == [(date(2032, 3, 1), Decimal("350.00")), (date(2032, 3, 2), Decimal("300.00"))]


def test_a_same_day_correction_in_a_second_file_loads_after_the_original(conn, all_contracts, tmp_path):
    import os
    import shutil

    from household_monitoring.loading import landed_files

    contract, day = all_contracts["medical_settlements"], date(2032, 3, 10)
    folder = tmp_path / "medical_settlements" / day.isoformat()
    folder.mkdir(parents=True)
    delivered = {
        "medical_settlements_20240718.csv": 1_720_000_000,
        "medical_settlements_20240718 (1).csv": 1_720_021_600,
    }
    for name, mtime in delivered.items():
        shutil.copy(FIXTURES / "duplicates" / "same_day" / name, folder / name)
        os.utime(folder / name, (mtime, mtime))  # the correction arrived six hours later
    order = [p.name for p in landed_files(tmp_path, contract, day)]
    assert order == ["medical_settlements_20240718.csv", "medical_settlements_20240718 (1).csv"]  # not by name
    for _ in range(2):  # the date re-run: same order, nothing duplicated
        batches = [load_file(conn, contract, folder / name, day) for name in order]
    ledger = conn.execute(
        "select file_name, status, extract(epoch from delivered_at)::bigint from audit.load_batches"
        " where source = 'medical_settlements' and logical_date = %s and status <> 'superseded'"
        " order by delivered_at desc, batch_id desc",
        (day,),
    ).fetchall()
    assert ledger == [
        ("medical_settlements_20240718 (1).csv", "loaded", 1_720_021_600),  # staging takes this FX21 (1,250.00)
        ("medical_settlements_20240718.csv", "loaded", 1_720_000_000),
    ]
    assert [(_outcome(b)) for b in batches] == [("loaded", 2, 2, 0), ("loaded", 1, 1, 0)]


# --- Excel -------------------------------------------------------------------------------------------------------


def test_an_excel_workbook_of_several_sheets(conn, all_contracts):
    result = _load(conn, all_contracts["fixture_excel"], "excel/several_sheets.xlsx")
    assert _outcome(result) == ("loaded", 6, 3, 3)
    assert result.message == (
        "several_sheets.xlsx: extra columns kept in raw._extra: 备注;"
        " code: number cells padded with leading zeros to 6 digits in rows 一乡!4, 二乡!2"
    )
    assert _raw(conn, "fixture_excel", "_sheet, _row_number, person_id, code, day, amount", result.batch_id) == [
        ("一乡", 2, ID_A, "001234", date(2024, 3, 15), Decimal("12.50")),  # a real date cell
        ("一乡", 4, ID_B, "001236", date(2024, 3, 16), Decimal("2.00")),  # 1236 padded; serial 45367
        ("二乡", 2, ID_C, "001238", date(2024, 3, 17), Decimal("4.00")),  # other column order; serial 45368
    ]
    assert _quarantine(conn, "fixture_excel", result.batch_id) == [
        (3, "一乡", ["person_id: resident ID stored as a number in Excel (digits beyond the 15th are lost)"]),
        (5, "一乡", ["day: Excel serial date 60 is 1900-02-29, a day that did not exist (Excel's 1900 leap-year bug)"]),
        (3, "二乡", ["day: Excel serial date 45369.5 has a time of day"]),
    ]


def test_a_number_in_an_excel_date_column_is_one_quarantined_row(conn, all_contracts):
    result = _load(conn, all_contracts["fixture_excel"], "excel/date_as_number.xlsx")
    assert _outcome(result) == ("loaded", 3, 2, 1)
    assert _raw(conn, "fixture_excel", "_row_number, day", result.batch_id) == [
        (2, date(2024, 3, 15)),
        (4, date(2024, 3, 17)),
    ]
    assert _quarantine(conn, "fixture_excel", result.batch_id) == [
        (3, "Sheet", ["day: number 20240315 is not an Excel date (serial dates end at 2958465, 9999-12-31)"])
    ]


# --- reconciliation over every fixture ---------------------------------------------------------------------------

#: Records in each fixture file, counted when it was written (header and blank lines excluded).
RECORDS = {
    "amounts/amounts.csv": 10,
    "amounts/fullwidth_comma.csv": 2,
    "dates/mixed_formats.csv": 8,
    "duplicates/day1.csv": 2,
    "duplicates/day2_correction.csv": 2,
    "duplicates/in_one_file.csv": 6,
    "duplicates/same_day/medical_settlements_20240718 (1).csv": 1,
    "duplicates/same_day/medical_settlements_20240718.csv": 2,
    "encodings/gb18030_damaged_pair.csv": 4,
    "encodings/gb18030_rare.csv": 3,
    "encodings/gbk.csv": 3,
    "encodings/utf16_lone_surrogate.csv": 3,
    "encodings/utf16be_bom.csv": 3,
    "encodings/utf16le_bom.csv": 3,
    "encodings/utf16le_no_bom.csv": 3,
    "encodings/utf8.csv": 3,
    "encodings/utf8_bom.csv": 3,
    "encodings/utf8_with_bad_byte.csv": 3,
    "excel/agriculture_short_household.xlsx": 2,
    "excel/date_as_number.xlsx": 3,
    "excel/repeated_extra_columns.xlsx": 2,
    "excel/several_sheets.xlsx": 6,
    "files/arrives_twice.csv": 2,
    "files/cut_inside_last_field.csv": 3,
    "files/header_only.csv": 0,
    "files/only_bom.csv": 0,
    "files/quote_inside_quoted_field.csv": 4,
    "files/quoted_newline.csv": 2,
    "files/stray_quote.csv": 51,
    "files/truncated_last_record.csv": 3,
    "files/workbook_named_csv.csv": 2,
    "files/wrong_field_counts.csv": 4,
    "files/zero_bytes.csv": 0,
    "header_drift/extra_columns.csv": 2,
    "header_drift/missing_required.csv": 2,
    "header_drift/renamed.csv": 1,
    "header_drift/repeated_contract_column.csv": 1,
    "header_drift/repeated_extra_columns.csv": 2,
    "header_drift/reordered.csv": 1,
    "ids/register_ids.csv": 8,
    "ids/register_short_household.csv": 2,
    "ids/settlement_legacy_id.csv": 2,
}


def test_every_fixture_reconciles_in_sql(conn, all_contracts):
    files = sorted(
        str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.is_file() and p.suffix in (".csv", ".xlsx")
    )
    assert files == sorted(RECORDS)  # a new fixture needs its count here
    day = date(2032, 12, 31)
    batches = {}
    for rel in files:
        source = (
            "household_register"
            if rel.startswith("ids/register")
            else "agriculture_income"
            if rel.startswith("excel/agriculture")
            else "fixture_excel"
            if rel.endswith(".xlsx")
            else "medical_settlements"
        )
        batches[rel] = (source, _load(conn, all_contracts[source], rel, day).batch_id)
    for rel, (source, batch_id) in batches.items():
        ledger = conn.execute(
            f"""select b.rows_read, b.rows_loaded, b.rows_quarantined,
                      (select count(*) from raw.{source} r where r._batch_id = b.batch_id),
                      (select count(*) from quarantine.{source} q where q._batch_id = b.batch_id)
               from audit.load_batches b where b.batch_id = %s""",
            (batch_id,),
        ).fetchone()
        read, loaded, quarantined, in_raw, in_quarantine = ledger
        assert (read, loaded, quarantined) == (RECORDS[rel], in_raw, in_quarantine), rel
        assert read == loaded + quarantined, rel
    unbalanced = conn.execute(
        "select count(*) from audit.load_batches"
        " where logical_date = %s and rows_read <> rows_loaded + rows_quarantined",
        (day,),
    ).fetchone()[0]
    assert unbalanced == 0
