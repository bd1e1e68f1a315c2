"""Contracts load, and the dbt sources generated from them are the committed ones."""

from __future__ import annotations

import pytest

from household_monitoring.contracts import ContractError, load_contract
from household_monitoring.dbt import generated_files, render_sources, sources_path


def test_every_contract_loads_with_keys_and_required_columns(contracts):
    assert len(contracts) == 11
    assert contracts["agriculture_income"].file_pattern == "*.xlsx"
    assert contracts["medical_settlements"].keys == ("settlement_id",)
    money = [c.name for c in contracts["medical_settlements"].columns if c.type == "money"]
    assert money == [
        "total_cost",
        "basic_insurance",
        "critical_illness_insurance",
        "medical_assistance",
        "out_of_pocket",
    ]
    assert all(c.sql_type == "numeric(14,2)" for c in contracts["medical_settlements"].columns if c.type == "money")
    assert contracts["household_register"].column("person_id").sql_type == "text"


def test_committed_dbt_sources_match_the_contracts(contracts):
    for contract in contracts.values():
        path = sources_path(contract)
        assert path.read_text(encoding="utf-8") == render_sources(contract), f"stale {path}: run `hm dbt-sources`"
    for path, text in generated_files(contracts).items():
        assert path.read_text(encoding="utf-8") == text, f"stale {path}: run `hm dbt-sources`"


def test_a_contract_naming_an_unknown_column_in_a_rule_is_refused(tmp_path):
    path = tmp_path / "x.yml"
    path.write_text(
        "source: x\nkeys: [a]\ncolumns:\n  - {name: a, type: money}\nrow_rules:\n"
        "  - name: r\n    difference: {column: a, minuend: b, subtrahends: [c]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ContractError, match=r"row rule 'r' names unknown columns \['b', 'c'\]"):
        load_contract(path)


def test_every_code_like_column_declares_its_format(contracts):
    """Issue 12: a code typed as a number (户编号 123) must be refused, so every identifier declares a format."""
    import re

    undeclared = [
        f"{source}.{column.name}"
        for source, contract in contracts.items()
        for column in contract.columns
        if column.type == "text" and column.name.endswith(("_id", "_code")) and not column.pattern
    ]
    assert undeclared == []
    household = contracts["household_register"].column("household_id").pattern
    assert [bool(re.search(household, v)) for v in ("6531291000019001", "123", "6.53129100001900E+15")] == [
        True,
        False,
        False,
    ]
    record = contracts["medical_settlements"].column("settlement_id").pattern
    assert [bool(re.search(record, v)) for v in ("FX653129000001", "JS-1_a", "1.23E+15", "FX 1")] == [
        True,
        True,
        False,
        False,
    ]


def test_a_width_without_a_pattern_means_that_many_digits(tmp_path):
    path = tmp_path / "x.yml"
    path.write_text("source: x\nkeys: [a]\ncolumns:\n  - {name: a, type: text, required: true, width: 6}\n")
    assert load_contract(path).column("a").pattern == r"^\d{6}$"


@pytest.mark.parametrize("name", ["End-not-before-start", "EndNotBeforeStart", None, "r" * 58])
def test_a_row_rule_name_that_cannot_name_a_gate_column_is_refused(tmp_path, name):
    """The gate checks a rule as column ``_rule_<name>`` of its view (quality.row_rule_column)."""
    path = tmp_path / "x.yml"
    named = "" if name is None else f"name: {name}\n    "
    path.write_text(
        "source: x\nkeys: [a]\ncolumns:\n  - {name: a, type: money}\n  - {name: b, type: money}\nrow_rules:\n"
        f"  - {named}difference: {{column: a, minuend: b, subtrahends: [b]}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ContractError, match=r"row rule name .* must be lower-case letters"):
        load_contract(path)


def test_two_row_rules_of_one_name_are_refused(tmp_path):
    path = tmp_path / "x.yml"
    rule = "  - name: r\n    difference: {column: a, minuend: b, subtrahends: [b]}\n"
    path.write_text(
        "source: x\nkeys: [a]\ncolumns:\n  - {name: a, type: money}\n  - {name: b, type: money}\nrow_rules:\n"
        + rule * 2,
        encoding="utf-8",
    )
    with pytest.raises(ContractError, match=r"row rule names \['r'\] are used twice"):
        load_contract(path)
