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
