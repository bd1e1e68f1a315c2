"""dbt: the sources generated from the contracts, and dbt run in-process.

``render_sources`` writes each source's ``_<source>__sources.yml`` from its
contract (columns, descriptions, ``pii`` tags, freshness), so the dbt source and
the loader can never disagree; a test fails when a committed file is stale
(``hm dbt-sources`` rewrites them).

``run_dbt`` calls dbt through ``dbtRunner`` (no second interpreter), with the
profile in ``dbt_project/profiles.yml`` reading the warehouse from ``HM_DB_*``
variables, and raises ``DbtFailed`` with the failing nodes when dbt fails.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml

from household_monitoring.config import DBT_PROJECT_DIR, Database
from household_monitoring.contracts import Contract

log = logging.getLogger(__name__)

GENERATED_NOTE = "# Generated from expectations/contracts/{source}.yml by `hm dbt-sources`; do not edit.\n"


def sources_path(contract: Contract, project_dir: Path = DBT_PROJECT_DIR) -> Path:
    return project_dir / "models" / "staging" / contract.source / f"_{contract.source}__sources.yml"


def render_sources(contract: Contract) -> str:
    """The dbt sources YAML of one contract (text)."""
    columns = []
    for column in contract.columns:
        entry = {
            "name": column.name,
            "description": column.description or f"{column.type} ({', '.join(column.aliases)})",
            "data_type": column.sql_type,
        }
        if column.pii:
            entry["tags"] = ["pii"]
            entry["meta"] = {"pii": True}
        columns.append(entry)
    columns += [
        {"name": "_batch_id", "description": "Batch (audit.load_batches.batch_id) that loaded the row."},
        {"name": "_logical_date", "description": "Logical date of the batch (the extract's date)."},
        {"name": "_row_number", "description": "Row of the record in its file (header = row 1)."},
    ]
    doc = {
        "version": 2,
        "sources": [
            {
                "name": contract.source,
                "description": f"{contract.description} Sent by: {contract.department}. Grain: {contract.grain}.",
                "schema": "raw",
                "loaded_at_field": "cast(_logical_date as timestamp)",
                "freshness": {
                    "warn_after": {"count": contract.freshness_warn_days, "period": "day"},
                    "error_after": {"count": contract.freshness_error_days, "period": "day"},
                },
                "meta": {"contract": f"expectations/contracts/{contract.source}.yml", "keys": list(contract.keys)},
                "tables": [
                    {
                        "name": contract.source,
                        "description": "Rows of published and unpublished batches; read through published_rows().",
                        "columns": columns,
                    }
                ],
            }
        ],
    }
    body = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)
    return GENERATED_NOTE.format(source=contract.source) + body


def render_quarantine_sources(contracts: dict[str, Contract]) -> str:
    """The dbt source ``quarantine``: one table per contract (the loader's refused rows)."""
    doc = {
        "version": 2,
        "sources": [
            {
                "name": "quarantine",
                "description": "Rows the loader refused, with their original text and reasons; one table per contract.",
                "schema": "quarantine",
                "tables": [
                    {
                        "name": c.source,
                        "description": f"Refused rows of {c.source}: _batch_id, _logical_date, _row_number, "
                        "_sheet, raw_record (header -> text as sent), reasons ('column: problem').",
                        "columns": [
                            {
                                "name": "raw_record",
                                "description": "The refused record as sent (header -> text): it may hold resident "
                                "IDs and names, so it is personal data (read by the auditor role, never by analysts).",
                                "tags": ["pii"],
                                "meta": {"pii": True},
                            }
                        ],
                    }
                    for c in contracts.values()
                ],
            }
        ],
    }
    note = "# Generated from expectations/contracts/*.yml by `hm dbt-sources`; do not edit.\n"
    return note + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)


def render_contract_sources_macro(contracts: dict[str, Contract]) -> str:
    """The dbt macro ``contract_sources()``: every contract's source, freshness and columns, known at parse time.

    Models that cover every source (the scorecard) loop over it; a ``graph`` lookup would
    be empty while dbt parses (and in a unit test), and ``source()`` calls must be seen then.
    ``columns`` are the contract's columns in contract order: what a version of a record is
    made of (``latest_published_rows``).
    """
    items = ",\n        ".join(
        f"{{'name': '{c.source}', 'warn_after_days': {c.freshness_warn_days}, "
        f"'error_after_days': {c.freshness_error_days},\n         'columns': {c.column_names!r}}}"
        for c in contracts.values()
    )
    return (
        "{#- Generated from expectations/contracts/*.yml by `hm dbt-sources`; do not edit.\n"
        "    Every contract's source with its freshness (days) and its columns, in file-name order. -#}\n"
        "{% macro contract_sources() -%}\n"
        f"    {{{{ return([\n        {items}\n    ]) }}}}\n"
        "{%- endmacro %}\n"
    )


def generated_files(contracts: dict[str, Contract], project_dir: Path = DBT_PROJECT_DIR) -> dict[Path, str]:
    """Every file ``hm dbt-sources`` writes, path -> text."""
    files = {sources_path(c, project_dir): render_sources(c) for c in contracts.values()}
    files[project_dir / "models" / "staging" / "audit" / "_quarantine__sources.yml"] = render_quarantine_sources(
        contracts
    )
    files[project_dir / "macros" / "contract_sources.sql"] = render_contract_sources_macro(contracts)
    return files


def write_sources(contracts: dict[str, Contract], project_dir: Path = DBT_PROJECT_DIR) -> list[Path]:
    """Write every contract's sources file, the quarantine sources and the source list macro; return the paths."""
    written = []
    for path, text in generated_files(contracts, project_dir).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


class DbtFailed(RuntimeError):
    """dbt returned failure; the message lists the failing nodes and their messages.

    ``data_tests_failed`` is true when every failing node is a test that ran and found rows
    (dbt status ``fail``: a data or unit test), none an error: the data (or the code) is
    wrong, and running the same build again gives the same answer, so a caller should not
    retry it. Errors (a lost connection, a lock timeout, a SQL error) may pass on a retry.
    """

    def __init__(self, message: str, *, data_tests_failed: bool = False) -> None:
        super().__init__(message)
        self.data_tests_failed = data_tests_failed


#: Session settings of dbt's connections (libpq reads PGOPTIONS). JIT off: PostgreSQL compiles
#: every query whose estimated cost passes jit_above_cost with LLVM, and the models' estimates
#: (generate_series, CTEs) pass it easily; measured on fct_source_daily_scorecard at 10,000
#: households, 12.0 s of JIT compilation for a query that runs in 14 ms without it (issue 10).
# client_connection_check_interval: a statement whose client died (a killed build) stops within
# 10 s instead of running on with its locks until it next talks to the client (PostgreSQL 14+).
DBT_SESSION_OPTIONS = "-c jit=off -c client_connection_check_interval=10s"


def dbt_environment(db: Database, salt: str) -> dict[str, str]:
    """Environment for dbt: the warehouse (HM_DB_*), the person-key salt and the session options
    (``PGOPTIONS``: the caller's own options, then ``DBT_SESSION_OPTIONS``)."""
    options = os.environ.get("PGOPTIONS", "")
    if DBT_SESSION_OPTIONS not in options:
        options = f"{options} {DBT_SESSION_OPTIONS}".strip()
    return {**db.environment(), "HM_ID_SALT": salt, "PGOPTIONS": options}


def run_dbt(
    args: list[str],
    *,
    db: Database,
    salt: str,
    project_dir: Path = DBT_PROJECT_DIR,
    target_path: Path | None = None,
) -> list[str]:
    """Run one dbt command in-process, e.g. ``["build", "--vars", "{as_of_date: 2024-07-15}"]``.

    ``target_path`` (default ``HM_DBT_TARGET_PATH`` or ``<project>/target``) receives the
    manifest, compiled SQL and logs. Returns the nodes that passed with a warning
    (``severity: warn`` tests), logged too. Raises ``DbtFailed`` naming the failing nodes
    when dbt does not succeed.
    """
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_environment(db, salt))
    target = target_path or Path(os.environ.get("HM_DBT_TARGET_PATH", project_dir / "target"))
    full = [
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
    ]
    log.info("dbt %s", " ".join(args))
    result = dbtRunner().invoke(full)
    failures, warnings, statuses = [], [], set()
    for node in getattr(result.result, "results", None) or []:
        status = str(node.status)
        if status in ("error", "fail", "runtime error"):
            failures.append(f"{node.node.unique_id}: {node.message}")
            statuses.add(status)
        elif status == "warn":
            warnings.append(f"{node.node.unique_id}: {node.message}")
    for warning in warnings:
        log.warning("dbt warning: %s", warning)
    if not result.success:
        detail = "; ".join(failures) or str(result.exception)
        raise DbtFailed(f"dbt {args[0]} failed: {detail}", data_tests_failed=statuses == {"fail"})
    return warnings
