"""Every mart column that carries a state, a level, a key or money is tested not_null, or says why NULL means something.

Checked for all marts at once from dbt's manifest (``dbt parse``, in-process), so a new
mart or column cannot slip through (issue 12: ``fct_risk_warnings.warning_level`` and
``status`` set to NULL passed every test, only an unknown value failed).
"""

from __future__ import annotations

import json
import re

#: Column names that carry a key, a state or flag, a level, or an amount of money (yuan).
STATEFUL = re.compile(
    r"(_id|_key)$|(^|_)status$|^is_|(^|_)level$|_level$|amount|cost|income|wage|pay$|yuan|out_of_pocket|assistance$"
)


def _manifest(test_db, tmp_path) -> dict:
    from household_monitoring.dbt import run_dbt

    run_dbt(["parse"], db=test_db, salt="parse-only", target_path=tmp_path)
    return json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))


def test_every_stateful_mart_column_is_not_null_or_says_why_it_may_be_null(test_db, tmp_path):
    manifest = _manifest(test_db, tmp_path)
    not_null: set[tuple[str, str]] = {
        (node["attached_node"], node["column_name"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and (node.get("test_metadata") or {}).get("name") == "not_null"
    }
    marts = [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["schema"].endswith("marts")]
    assert len(marts) >= 12
    unguarded, contradicted, checked = [], [], 0
    for model in marts:
        for name, column in model["columns"].items():
            nullable = (column.get("config") or {}).get("meta", {}).get("nullable") or column.get("meta", {}).get(
                "nullable"
            )
            tested = (model["unique_id"], name) in not_null
            if tested and nullable:
                contradicted.append(f"{model['name']}.{name}")
            elif STATEFUL.search(name):
                checked += 1
                if not tested and not (isinstance(nullable, str) and nullable.strip()):
                    unguarded.append(f"{model['name']}.{name}")
    assert unguarded == [], "add data_tests: [not_null], or config: {meta: {nullable: '<why NULL means something>'}}"
    assert contradicted == []
    assert checked > 50  # the pattern finds the marts' keys, states, levels and amounts (71 today)
