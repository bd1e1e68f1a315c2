"""Quality gate: validate a loaded batch with Great Expectations, then publish it or hold it back.

Write-audit-publish: the loader writes a batch to ``raw.<source>`` with ledger
status ``loaded``; dbt's staging reads only ``published`` batches. ``validate_batch``
runs the source's suite (built from its contract, :func:`build_suite`) on the
batch's rows in PostgreSQL through a checkpoint that also updates Data Docs,
stores one row per expectation in ``audit.dq_results``, and sets the ledger status
to ``published`` when every *blocking* expectation holds, else to
``failed_validation`` with a message naming the file and the failed checks.

Blocking expectations are those the loader already guarantees row by row (a
failure means the batch is not what the loader said it was) and the volume check
(a file with no record is not a day's extract). Non-blocking ones (duplicate keys,
dates after the logical date) are reported in Data Docs and ``audit.dq_results``.

Great Expectations is imported inside the functions: importing it costs ~5 s.
The file-mode context under ``config.data_docs_dir()`` is shared by every task,
so its use is serialised with an inter-process lock.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psycopg

from household_monitoring.config import Database, data_docs_dir
from household_monitoring.contracts import Contract

log = logging.getLogger(__name__)

DATASOURCE = "warehouse"
URL_VARIABLE = "HM_GX_DATABASE_URL"


@dataclass
class GateResult:
    """Outcome of the gate for one batch."""

    batch_id: int
    status: str  # published, failed_validation, rejected
    message: str | None = None
    failed: list[str] = field(default_factory=list)
    data_docs: Path | None = None


def suite_name(contract: Contract) -> str:
    return f"{contract.source}__contract"


def build_suite(contract: Contract, logical_date: date, previous_rows: int | None = None):
    """The Expectation Suite of a source, from its contract, for one logical date.

    ``previous_rows``: rows of the previous published extract of a ``full_extract``
    source; the batch must keep at least ``(1 - max_volume_drop)`` of them.
    Returns a ``great_expectations.ExpectationSuite`` (not saved). Every
    expectation carries ``meta.blocking`` and ``meta.rule`` (where it comes from).
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(
        name=suite_name(contract),
        meta={"contract": f"expectations/contracts/{contract.source}.yml", "logical_date": logical_date.isoformat()},
    )

    def add(expectation, blocking: bool, rule: str) -> None:
        expectation.meta = {"blocking": blocking, "rule": rule}
        suite.add_expectation(expectation)

    add(gxe.ExpectTableRowCountToBeBetween(min_value=1), True, "volume: a day's extract has at least one record")
    if contract.full_extract and previous_rows:
        floor = math.ceil(previous_rows * (1 - contract.max_volume_drop))
        add(
            gxe.ExpectTableRowCountToBeBetween(min_value=floor),
            True,
            f"volume: a full extract keeps at least {1 - contract.max_volume_drop:.0%} of the previous "
            f"published one ({previous_rows} rows); fewer means a truncated export",
        )
    add(
        gxe.ExpectTableColumnsToMatchSet(column_set=contract.column_names, exact_match=False),
        True,
        "schema: every contract column exists in the raw table",
    )
    for column in contract.columns:
        if column.required:
            add(gxe.ExpectColumnValuesToNotBeNull(column=column.name), True, f"contract: {column.name} is required")
        if column.type == "resident_id":
            add(
                gxe.ExpectColumnValuesToMatchRegex(column=column.name, regex=r"^\d{17}[\dX]$"),
                True,
                "GB 11643: 17 digits and a check character",
            )
        elif column.type == "money":
            add(
                gxe.ExpectColumnValuesToBeBetween(column=column.name, min_value=0, max_value=999_999_999_999.99),
                True,
                "contract: amounts in yuan, not negative, numeric(14,2)",
            )
        elif column.type == "code":
            add(
                gxe.ExpectColumnValuesToBeInSet(column=column.name, value_set=list(column.values)),
                True,
                f"contract: {column.name} codes",
            )
        elif column.type == "date":
            add(
                gxe.ExpectColumnValuesToBeBetween(
                    column=column.name, min_value="1900-01-01", max_value=logical_date.isoformat()
                ),
                False,
                "freshness: no date after the extract's logical date",
            )
        elif column.type == "text" and column.pattern:
            add(
                gxe.ExpectColumnValuesToMatchRegex(column=column.name, regex=column.pattern),
                True,
                f"contract: {column.name} pattern",
            )
    if len(contract.keys) == 1:
        add(gxe.ExpectColumnValuesToBeUnique(column=contract.keys[0]), False, "contract: key unique within a file")
    else:
        add(
            gxe.ExpectCompoundColumnsToBeUnique(column_list=list(contract.keys)),
            False,
            "contract: key unique within a file",
        )
    for rule in contract.row_rules:
        if rule.kind == "difference":
            condition = f"{rule.column} <> {rule.operands[0]} - " + " - ".join(rule.operands[1:])
        else:
            condition = f"{rule.column} < {rule.operands[0]}"
        add(
            gxe.UnexpectedRowsExpectation(
                unexpected_rows_query=f"select * from {{batch}} where {condition}",
                description=f"{rule.name}: {rule.description}",
            ),
            True,
            f"contract row rule {rule.name}",
        )
    return suite


def _context(db: Database):
    import great_expectations as gx

    os.environ[URL_VARIABLE] = db.sqlalchemy_url
    root = data_docs_dir()
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    bars = context.variables.progress_bars
    if (bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)) is not False:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        context.variables.save()
    # The connection string stays a ${VARIABLE} in the YAML: no password on disk.
    datasource = context.data_sources.add_or_update_postgres(
        name=DATASOURCE, connection_string="${" + URL_VARIABLE + "}"
    )
    return context, datasource


def data_docs_index() -> Path:
    """The Data Docs site's index page."""
    return data_docs_dir() / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def _store_results(conn, contract: Contract, batch_id: int, logical_date: date, results) -> list[str]:
    failed = []
    rows = []
    for r in results:
        config = r.expectation_config
        blocking = bool((config.meta or {}).get("blocking", True))
        result = r.result or {}
        observed = result.get("observed_value")
        column = config.kwargs.get("column")
        label = f"{config.type}({column})" if column else config.type
        if not r.success and blocking:
            failed.append(label)
        rows.append(
            (
                batch_id,
                contract.source,
                logical_date,
                suite_name(contract),
                config.type,
                column,
                blocking,
                bool(r.success),
                None if observed is None else json.dumps(observed, default=str, ensure_ascii=False)[:2000],
                result.get("unexpected_count"),
                result.get("element_count"),
                json.dumps(
                    {
                        "rule": (config.meta or {}).get("rule"),
                        "partial_unexpected_list": result.get("partial_unexpected_list"),
                        "exception": (r.exception_info or {}).get("exception_message")
                        if isinstance(r.exception_info, dict)
                        else None,
                    },
                    default=str,
                    ensure_ascii=False,
                ),
            )
        )
    with conn.cursor() as cur:
        cur.execute("delete from audit.dq_results where batch_id = %s", (batch_id,))
        cur.executemany(
            """insert into audit.dq_results
                 (batch_id, source, logical_date, suite_name, expectation_type, column_name, blocking, success,
                  observed_value, unexpected_count, element_count, details, validated_at)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp())""",
            rows,
        )
    return failed


def validate_batch(conn: psycopg.Connection, db: Database, contract: Contract, batch_id: int) -> GateResult:
    """Validate one loaded batch and publish it or hold it back (see the module docstring).

    A batch the loader rejected is not validated: it stays ``rejected``.
    Raises ``LookupError`` when the batch does not exist.
    """
    import fasteners
    import great_expectations as gx

    row = conn.execute(
        "select status, logical_date, file_name, message from audit.load_batches where batch_id = %s", (batch_id,)
    ).fetchone()
    if row is None:
        raise LookupError(f"no batch {batch_id} in audit.load_batches")
    status, logical_date, file_name, message = row
    if status == "rejected":
        return GateResult(batch_id, "rejected", message)

    lock = fasteners.InterProcessLock(str(data_docs_dir() / ".gx.lock"))
    data_docs_dir().mkdir(parents=True, exist_ok=True)
    with lock:
        context, datasource = _context(db)
        asset_name = f"{contract.source}__batch"
        if asset_name in datasource.get_asset_names():
            datasource.delete_asset(asset_name)
        asset = datasource.add_query_asset(
            name=asset_name, query=f"select * from {contract.raw_table} where _batch_id = {int(batch_id)}"
        )
        batch_definition = asset.add_batch_definition_whole_table(name="batch")
        previous = None
        if contract.full_extract:
            previous = conn.execute(
                """select sum(rows_loaded) from audit.load_batches
                   where source = %s and status = 'published'
                     and logical_date = (select max(logical_date) from audit.load_batches
                                         where source = %s and status = 'published' and logical_date < %s)""",
                (contract.source, contract.source, logical_date),
            ).fetchone()[0]
        suite = context.suites.add_or_update(build_suite(contract, logical_date, previous))
        validation = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{contract.source}__batch", data=batch_definition, suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"{contract.source}__gate",
                validation_definitions=[validation],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
                result_format={"result_format": "SUMMARY"},
            )
        )
        run = checkpoint.run(
            run_id=gx.core.run_identifier.RunIdentifier(run_name=f"{contract.source}-{logical_date}-batch{batch_id}")
        )
    results = [r for vr in run.run_results.values() for r in vr.results]
    with conn.transaction():
        failed = _store_results(conn, contract, batch_id, logical_date, results)
        if failed:
            new_status = "failed_validation"
            message = f"{file_name}: failed blocking expectations: {', '.join(failed)}"
        else:
            new_status = "published"
        conn.execute(
            """update audit.load_batches set status = %s, message = coalesce(%s, message),
                 validated_at = clock_timestamp(),
                 published_at = case when %s = 'published' then clock_timestamp() end
               where batch_id = %s""",
            (new_status, message if failed else None, new_status, batch_id),
        )
    log.info("%s batch %s (%s): %s", contract.source, batch_id, file_name, new_status)
    return GateResult(batch_id, new_status, message if failed else None, failed, data_docs_index())
