"""Readers: encodings, header aliases and batch-level rejections, with exact messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from household_monitoring.readers import BatchRejected, ReadAgainCarefully, open_extract, quotes_sound

HEADER = (
    "结算单号,身份证号,姓名,医疗机构名称,入院日期,出院日期,"
    "医疗总费用,基本医保统筹支付,大病保险支付,医疗救助支付,个人自付"
)
ROW = "JS1,653129201902207995,亚森·艾山,伽师县人民医院,2024-05-08,2024-05-20,31562.40,15781.20,3156.24,2306.78,10318.18"


def _read(path: Path, contract):
    """Read as the loader does: the fast reader, and record by record when it asks (``ReadAgainCarefully``)."""
    for careful in (False, True):
        try:
            extract = open_extract(path, contract, careful=careful)
            try:
                blocks = list(extract.blocks())
            finally:
                extract.close()
            break
        except ReadAgainCarefully:
            assert not careful
    rows = [
        (int(n), [col[i].as_py() for col in block.columns])
        for block, _ in blocks
        for i, n in enumerate(block.row_numbers)
    ]
    bad = [b for _, bads in blocks for b in bads]
    return extract, rows, bad


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8", "utf-8-sig"])
def test_chinese_headers_in_each_accepted_encoding(tmp_path, contracts, encoding):
    path = tmp_path / "m.csv"
    path.write_bytes(f"{HEADER}\r\n{ROW}\r\n".encode(encoding))
    extract, rows, bad = _read(path, contracts["medical_settlements"])
    assert extract.positions[0] == "settlement_id" and extract.positions[-1] == "out_of_pocket"
    assert rows == [(2, ROW.split(","))]
    assert bad == []


def test_a_large_utf8_file_is_utf8_even_where_the_sniffed_bytes_cut_a_character(tmp_path, contracts):
    path = tmp_path / "big.csv"
    rows = "".join(ROW.replace("JS1", f"JS{n}") + "\n" for n in range(4000))  # > 256 KiB of Chinese text
    path.write_text(HEADER + "\n" + rows, encoding="utf-8")
    extract, records, bad = _read(path, contracts["medical_settlements"])
    assert extract.encoding == "utf-8"
    assert len(records) == 4000 and records[-1][0] == 4001 and bad == []


def test_english_aliases_and_extra_columns(tmp_path, contracts):
    path = tmp_path / "m.csv"
    header = "settlement_id,person_id,name,hospital,admission_date,discharge_date,total_cost,basic_insurance,"
    header += "critical_illness_insurance,medical_assistance,out_of_pocket,ward"
    path.write_text(f"{header}\n{ROW},3\n", encoding="utf-8")
    extract, rows, _ = _read(path, contracts["medical_settlements"])
    assert extract.extra_columns == ["ward"]
    assert rows[0][1][-1] == "3"


def test_missing_required_column_names_file_and_column(tmp_path, contracts):
    path = tmp_path / "medical_settlements_20240715.csv"
    path.write_text(HEADER.replace(",个人自付", "") + "\n", encoding="utf-8")
    with pytest.raises(BatchRejected) as err:
        open_extract(path, contracts["medical_settlements"])
    assert str(err.value) == (
        "medical_settlements_20240715.csv: required column(s) missing from the header: "
        "out_of_pocket (个人自付/个人负担/个人自付金额/out_of_pocket)"
    )


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\r\n\r\n"])
def test_empty_file_is_rejected(tmp_path, contracts, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(BatchRejected, match=r"^empty.csv: the file is empty \(no header\)$"):
        open_extract(path, contracts["verifications"])


BAD_ROW = b"JS2,653129201902207995,\xff\xfe\xfd,x,2024-05-08,2024-05-20,1.00,0,0,0,1.00\n"


def test_undecodable_bytes_quarantine_their_record_naming_line_column_and_bytes(tmp_path, contracts):
    path = tmp_path / "bad.csv"
    path.write_bytes((HEADER + "\n" + ROW + "\n").encode("utf-8") + BAD_ROW)
    extract, rows, bad = _read(path, contracts["medical_settlements"])
    assert extract.encoding == "utf-8"  # one damaged line does not make the file another encoding
    assert [n for n, _ in rows] == [2]
    assert [(b.row_number, b.reason, b.fields[2]) for b in bad] == [
        (3, "person_name: bytes that are not utf-8 at line 3: ff fe fd", "\\xff\\xfe\\xfd")
    ]


def test_undecodable_bytes_deep_in_the_file_quarantine_that_record_only(tmp_path, contracts):
    path = tmp_path / "late.csv"
    rows = "".join(ROW.replace("JS1", f"JS{n}") + "\n" for n in range(3000))  # ~400 KB, past the sniffed bytes
    path.write_bytes((HEADER + "\n" + rows).encode("utf-8") + BAD_ROW)
    extract, records, bad = _read(path, contracts["medical_settlements"])
    assert (extract.encoding, len(records), records[-1][0]) == ("utf-8", 3000, 3001)
    assert [(b.row_number, b.reason) for b in bad] == [
        (3002, "person_name: bytes that are not utf-8 at line 3002: ff fe fd")
    ]


def test_a_damaged_pair_at_line_1000_of_a_gb18030_file_quarantines_that_record_only(tmp_path, contracts):
    path = tmp_path / "gb.csv"
    lines = [HEADER] + [ROW.replace("JS1", f"JS{n}") for n in range(2, 1950)]  # 1,949 lines
    data = [line.encode("gb18030") for line in lines]
    data[999] = data[999].replace("亚森".encode("gb18030"), b"\xbd " + "森".encode("gb18030"))  # line 1,000
    path.write_bytes(b"\r\n".join(data) + b"\r\n")
    extract, records, bad = _read(path, contracts["medical_settlements"])
    assert (extract.encoding, len(records), records[-1][0]) == ("gb18030", 1947, 1949)
    assert [(b.row_number, b.reason, b.fields[2]) for b in bad] == [
        (1000, "person_name: bytes that are not gb18030 at line 1000: bd", "\\xbd 森·艾山")
    ]


def test_text_in_no_accepted_encoding_rejects_the_batch_naming_the_line(tmp_path, contracts):
    path = tmp_path / "latin.csv"
    path.write_bytes((HEADER + "\n").encode("utf-8") + BAD_ROW * 3)  # every record damaged: not a damaged line
    with pytest.raises(BatchRejected) as err:
        open_extract(path, contracts["medical_settlements"])
    assert str(err.value) == (
        "latin.csv: text is in none of the accepted encodings utf-8, gb18030, utf-16"
        " (not UTF-8 at line 2, byte offset 193: ff)"
    )


def test_rows_with_too_many_or_too_few_fields_are_bad_records_with_their_row(tmp_path, contracts):
    path = tmp_path / "m.csv"
    path.write_text(f'{HEADER}\n{ROW}\n{ROW},extra\n"JS3","note with\nnewline"\n{ROW}\n', encoding="utf-8")
    _, rows, bad = _read(path, contracts["medical_settlements"])
    assert [n for n, _ in rows] == [2, 5]
    assert [(b.row_number, b.reason) for b in bad] == [
        (3, "row has 12 fields, the header has 11"),
        (4, "row has 2 fields, the header has 11"),
    ]
    assert bad[1].fields == ["JS3", "note with\nnewline"]


def test_excel_ids_stored_as_numbers_are_refused(tmp_path, contracts):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["户编号", "身份证号", "与户主关系", "出生日期", "村代码", "户类型"])
    sheet.append(["6531291000010001", 653129195701270658, "户主", "1957-01-27", "653129100001", "脱贫户"])
    sheet.append(["6531291000010001", "653129195701270658", "户主", "1957-01-27", "653129100001", "脱贫户"])
    path = tmp_path / "register.xlsx"
    book.save(path)
    _, rows, bad = _read(path, contracts["household_register"])
    assert [n for n, _ in rows] == [3]
    assert [(b.row_number, b.reason) for b in bad] == [
        (2, "person_id: resident ID stored as a number in Excel (digits beyond the 15th are lost)")
    ]


def test_a_record_longer_than_a_read_block_is_named_as_such(tmp_path, contracts):
    path = tmp_path / "long.csv"
    header = "核查编号,户编号,核查日期,核查人,核查结论,核查说明"
    note = "很长" * 400_000  # 2.4 MB in UTF-8
    path.write_text(f"{header}\nHC1,6531291000019001,2024-07-18,甲,无风险,{note}\n", encoding="utf-8")
    with pytest.raises(BatchRejected) as err:
        _read(path, contracts["verifications"])
    assert str(err.value) == "long.csv: a record is longer than 1 MiB (a runaway field?)"


def test_a_sheet_without_a_required_column_rejects_the_workbook_naming_the_sheet(tmp_path):
    from openpyxl import Workbook

    from household_monitoring.contracts import load_contract

    contract = load_contract(Path(__file__).parents[1] / "fixtures" / "bad_files" / "excel" / "fixture_excel.yml")
    book = Workbook()
    book.active.append(["身份证号", "编码", "日期"])
    book.create_sheet("二乡").append(["身份证号", "日期"])
    path = tmp_path / "two.xlsx"
    book.save(path)
    with pytest.raises(BatchRejected) as err:
        open_extract(path, contract)
    assert str(err.value) == "two.xlsx: sheet '二乡': required column(s) missing from the header: code (编码)"


def test_serial_dates_of_a_1904_workbook_and_rows_below_a_blank_top(tmp_path):
    """A workbook in the 1904 date system (Excel for Mac) and a sheet whose table starts on row 3."""
    from openpyxl import Workbook
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    from household_monitoring.contracts import load_contract

    contract = load_contract(Path(__file__).parents[1] / "fixtures" / "bad_files" / "excel" / "fixture_excel.yml")
    book = Workbook()
    book.epoch = CALENDAR_MAC_1904
    sheet = book.active
    sheet.append([])
    sheet.append([])
    sheet.append(["身份证号", "编码", "日期", "金额"])
    sheet.append(["653129198001010015", 1234, 43905, 2.5])  # 43905 days after 1904-01-01
    path = tmp_path / "mac.xlsx"
    book.save(path)
    extract = open_extract(path, contract)
    try:
        (block, bad), *_ = list(extract.blocks())
    finally:
        extract.close()
    assert bad == []
    assert [[col[i].as_py() for col in block.columns] for i in range(len(block))] == [
        ["653129198001010015", "001234", "2024-03-16", "2.5"]
    ]
    assert block.row_numbers.tolist() == [4]


@pytest.mark.parametrize(
    ("text", "sound"),
    [
        ('"a","b"\r\n"1","x ""y"" z"\r\n', True),  # every field quoted, a doubled quote inside one
        ('a,b\n1,""\n', True),  # an empty quoted field
        ('a,b\n1,"夏普"吐勒乡卫生院"\n', False),  # a quote inside a quoted field, not doubled
        ('a,b\n1,"a,"x\n', False),  # the closing quote follows a comma inside the field
        ('a,b\n1,"open\n', False),  # a quote never closed
        ('a,b\n1,县"人民医院\n', False),  # a quote inside an unquoted field: the exact pass decides
    ],
)
def test_quotes_sound_judges_the_bytes(tmp_path: Path, text: str, sound: bool) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode("utf-8"))
    assert quotes_sound(path) is sound
    assert quotes_sound(path, block_bytes=3) is sound  # a quote at a block's edge


def test_quotes_sound_never_passes_what_strict_csv_refuses(tmp_path: Path) -> None:
    """Random texts of quotes, commas and line breaks: sound implies Python's strict reader reads it."""
    import csv
    import random

    rng = random.Random(20261202)
    path = tmp_path / "f.csv"
    sound_seen = 0
    for _ in range(3000):
        text = "".join(rng.choice(['"', ",", "\n", "a", "\r\n", " ", '""']) for _ in range(rng.randint(1, 12)))
        path.write_bytes(text.encode("utf-8"))
        with open(path, encoding="utf-8", newline="") as fh:
            try:
                for _ in csv.reader(fh, strict=True):
                    pass
                strict_ok = True
            except csv.Error:
                strict_ok = False
        for size in (2, 1 << 20):
            if quotes_sound(path, block_bytes=size):
                sound_seen += 1
                assert strict_ok, repr(text)
    assert sound_seen > 1000  # the property is not vacuous
