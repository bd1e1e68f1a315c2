"""Quality gate: validate a loaded batch with Great Expectations, then publish it or hold it back.

Write-audit-publish: the loader writes a batch to ``raw.<source>`` with ledger
status ``loaded``; dbt's staging reads only ``published`` batches. ``validate_batch``
runs the source's suite (built from its contract, :func:`build_suite`) on the
batch's rows in PostgreSQL, stores the validation result in the GX store (Data Docs
are rendered from it once per DAG run, see ``data_docs``), stores one row per
expectation in ``audit.dq_results``, and sets the ledger status to ``published`` when
every *blocking* expectation holds, else to ``failed_validation`` with a message
naming the file and the failed checks.

Blocking expectations are those the loader already guarantees row by row (a
failure means the batch is not what the loader said it was) and the volume check
(a file with no record is not a day's extract). Non-blocking ones (duplicate keys,
dates after the logical date) are reported in Data Docs and ``audit.dq_results``.

Cost (issue 10: the gate costs no more than the load it guards). Every expectation
runs in the database, on the batch (``where _batch_id = N``, a BRIN index), with the
SUMMARY result format; nothing brings the batch to the client:

- GX reads a *query* asset's columns by running the bare query and looking at the
  cursor's description, and psycopg2's cursor fetches every row first (a 1M-row batch:
  ~400 MB on the client; ``expectations/metrics/util.py``, ``column_reflection_fallback``).
  The batch is therefore a *table* asset on a view ``raw._gate_<source>``
  (``select * from raw.<source> where _batch_id = N``), created for the validation and
  dropped after it: its columns come from the catalogue. (A server-side cursor is no
  way out: GX's metric queries then fail with "named cursor isn't valid anymore".)
- GX's column-map expectations fetch up to ``partial_unexpected_count`` example values
  in a query of their own, one per expectation, which scans the whole batch when
  there is no such value (the usual case). The first pass asks for no example
  (``LIMIT 0``: no scan); the unexpected *counts* come from one aggregate query over
  all columns. Only expectations that found unexpected values run again, with 20
  examples, and replace their first-pass result.
- A contract's row rules are columns of the view (``_rule_<name>``: null where the row
  keeps the rule, else ``row N: <what it holds>``), checked with
  ``expect_column_values_to_be_null`` in that same aggregate query
  (:func:`gate_view_sql`); their examples are the rows that break them.

Great Expectations is imported inside the functions: importing it costs ~5 s.
The file-mode context under ``config.data_docs_dir()`` is shared by every task,
so its use is serialised with an inter-process lock.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psycopg

from household_monitoring.config import Database, data_docs_dir
from household_monitoring.contracts import Contract, RowRule

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

    expectations = []

    def add(expectation, blocking: bool, rule: str) -> None:
        expectation.meta = {"blocking": blocking, "rule": rule}
        expectations.append(expectation)

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
            for expectation, how in pattern_expectations(column.name, RESIDENT_ID_PATTERN):
                add(expectation, True, f"GB 11643: 17 digits and a check character{how}")
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
            for expectation, how in pattern_expectations(column.name, column.pattern):
                add(expectation, True, f"contract: {column.name} pattern{how}")
    if len(contract.keys) == 1:
        add(gxe.ExpectColumnValuesToBeUnique(column=contract.keys[0]), False, "contract: key unique within a file")
    else:
        add(
            gxe.ExpectCompoundColumnsToBeUnique(column_list=list(contract.keys)),
            False,
            "contract: key unique within a file",
        )
    for rule in contract.row_rules:
        add(
            gxe.ExpectColumnValuesToBeNull(
                column=row_rule_column(rule), description=f"{rule.name}: {rule.description}"
            ),
            True,
            f"contract row rule {rule.name}",
        )
    # Built in one go: adding expectations one by one to a suite whose name is already in the
    # store saves the whole suite after each one (~0.3 s each here).
    return gx.ExpectationSuite(
        name=suite_name(contract),
        expectations=expectations,
        meta={"contract": f"expectations/contracts/{contract.source}.yml", "logical_date": logical_date.isoformat()},
    )


#: The shape of a resident ID the gate checks (the loader checks the check character too).
RESIDENT_ID_PATTERN = r"^\d{17}[\dX]$"

#: One character of a pattern: a class, a class escape (``\d`` ...) or an escaped punctuation
#: mark, ``.`` or a literal; then its quantifier. Other escapes (``\y``, ``\m``: zero-width;
#: ``\x41``, ``\101``, ``\u0041``: one character written with several) are not one atom here,
#: and a pattern holding one is checked as it is.
_ESCAPE = r"\\[dswDSW]|\\[^0-9A-Za-z]"
_ATOM = re.compile(rf"(\[\^?\]?(?:{_ESCAPE}|[^\]\\])*\]|{_ESCAPE}|\.|[^\\\[\](){{}}|*+?^$])(\{{\d+(?:,\d*)?\}}|[*+?])?")


def _counted_atoms(pattern: str) -> list[tuple[str, int, int | None]] | None:
    """``pattern`` as ``[(atom, least, most)]`` when it is ``^`` single-character atoms ``$``, else None.

    ``most`` is None for an unbounded quantifier (``*``, ``+``, ``{m,}``).
    """
    if not (pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$")):
        return None
    body, atoms, at = pattern[1:-1], [], 0
    while at < len(body):
        match = _ATOM.match(body, at)
        if match is None:
            return None
        atom, quantifier = match.groups()
        at = match.end()
        if not quantifier:
            least, most = 1, 1
        elif quantifier in "*+?":
            least, most = {"*": (0, None), "+": (1, None), "?": (0, 1)}[quantifier]
        else:
            low, _, high = quantifier[1:-1].partition(",")
            least = int(low)
            most = least if "," not in quantifier else (int(high) if high else None)
        atoms.append((atom, least, most))
    return atoms


def pattern_expectations(column: str, pattern: str) -> list[tuple[object, str]]:
    r"""The gate's expectations that ``column`` matches ``pattern``, cheap for PostgreSQL's regex engine.

    Returns ``[(expectation, how)]``, ``how`` a note for the rule text ('' when the pattern is
    checked as it is). PostgreSQL's regex engine expands a counted repetition into its states:
    on 1,000,000 settlements ``^[0-9A-Za-z][0-9A-Za-z_-]{0,39}$`` took 2.5 s and
    ``^\d{17}[\dX]$`` 1.3 s, against 0.4 s for the same classes with ``*`` / ``+`` (measured
    2026-12-03, PostgreSQL 15). A pattern made of single-character atoms of which only one
    repeats (a record number, a resident ID, a household number) is therefore checked as the
    same atoms with that repetition unbounded plus the length its count allows: exactly the
    same strings. Any other pattern (groups, alternatives, two repeating atoms) is checked as
    it is.
    """
    import great_expectations.expectations as gxe

    as_is = [(gxe.ExpectColumnValuesToMatchRegex(column=column, regex=pattern), "")]
    atoms = _counted_atoms(pattern) if "{" in pattern else None  # no counted repetition: cheap as it is
    if atoms is None:
        return as_is
    repeating = [i for i, (_, least, most) in enumerate(atoms) if (least, most) != (1, 1)]
    if len(repeating) != 1:
        return as_is
    (i,) = repeating
    _, least, most = atoms[i]
    fixed = len(atoms) - 1
    relaxed = "^" + "".join(a if j != i else a + ("+" if least else "*") for j, (a, _, _) in enumerate(atoms)) + "$"
    shortest, longest = fixed + least, None if most is None else fixed + most
    how = f" (checked as {relaxed} and {shortest}" + (
        "+" if longest is None else "" if longest == shortest else f"-{longest}"
    )
    how += " characters: the same strings, cheaper for PostgreSQL)"
    checks = [(gxe.ExpectColumnValuesToMatchRegex(column=column, regex=relaxed), how)]
    if longest == shortest:
        checks.append((gxe.ExpectColumnValueLengthsToEqual(column=column, value=shortest), how))
    elif longest is not None or shortest > fixed + min(least, 1):  # more than the relaxed pattern implies
        checks.append(
            (gxe.ExpectColumnValueLengthsToBeBetween(column=column, min_value=shortest, max_value=longest), how)
        )
    return checks


#: First pass: counts and observed values, no example value (no scan per expectation).
RESULT_FORMAT_COUNTS = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
#: Second pass, for the expectations that found unexpected values: up to 20 examples each.
RESULT_FORMAT_EXAMPLES = {"result_format": "SUMMARY", "partial_unexpected_count": 20}


def gx_context(db: Database):
    """The project's file-mode GX context (under ``config.data_docs_dir()``), with offline settings.

    Progress bars off, and the Data Docs site without GX's "how to" buttons (links to its
    online documentation, useless on a network without the internet), with an index
    builder whose cost does not grow with the results kept (``data_docs_index``).
    The caller holds the context lock.
    """
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
    sites = context.variables.data_docs_sites or {}
    site = sites.get("local_site")
    index_builder = {"class_name": "CachedSiteIndexBuilder", "module_name": "household_monitoring.data_docs_index"}
    if site is not None and (site.get("show_how_to_buttons", True) or site.get("site_index_builder") != index_builder):
        site["show_how_to_buttons"] = False
        site["site_index_builder"] = index_builder  # lists every validation without re-reading each
        context.variables.data_docs_sites = sites
        context.variables.save()
        context = gx.get_context(mode="file", project_root_dir=str(data_docs_dir()))
    return context


def _batch_definition(db: Database, contract: Contract):
    """``(context, batch definition)`` of the source's gate view ``raw._gate_<source>`` (see the module docstring).

    Datasource, asset and batch definition are written to the context's YAML only the
    first time (each write re-reads and re-substitutes the whole configuration).
    """
    context = gx_context(db)
    url = "${" + URL_VARIABLE + "}"  # the YAML keeps the variable: no password on disk
    if DATASOURCE in context.data_sources.all():
        datasource = context.data_sources.get(DATASOURCE)
    else:
        datasource = context.data_sources.add_postgres(name=DATASOURCE, connection_string=url)
    name, view = f"{contract.source}__batch", gate_view(contract).split(".")[1]
    if name in datasource.get_asset_names():
        asset = datasource.get_asset(name)
        if getattr(asset, "table_name", None) != view or getattr(asset, "schema_name", None) != "raw":
            datasource.delete_asset(name)  # a query asset of an earlier version
            asset = None
    else:
        asset = None
    if asset is None:
        asset = datasource.add_table_asset(name=name, table_name=view, schema_name="raw")
    try:
        return context, asset.get_batch_definition("batch")
    except KeyError:
        return context, asset.add_batch_definition_whole_table(name="batch")


def gate_view(contract: Contract) -> str:
    """The view the gate validates: ``raw._gate_<source>``, one batch of the raw table at a time."""
    return f"raw._gate_{contract.source}"


def row_rule_column(rule: RowRule) -> str:
    """The gate view's column for a contract row rule: ``_rule_<name>``, null where the rule holds."""
    return f"_rule_{rule.name}"


def row_rule_sql(rule: RowRule) -> str:
    """SQL of :func:`row_rule_column`: where the row breaks the rule, what it holds, else null.

    ``difference`` (``column = minuend - subtrahends``, to the fen) gives e.g.
    ``row 3: out_of_pocket 10318.19 <> 10318.18``; ``not_before`` gives
    ``row 5: discharge_date 2024-05-01 < admission_date 2024-05-08``. A missing operand
    (null) breaks no rule, as in the loader's check (``fields.check_row_rule``). These texts
    are the examples Data Docs and ``audit.dq_results`` show for a failed rule.
    """
    if rule.kind == "difference":
        expected = f"{rule.operands[0]} - " + " - ".join(rule.operands[1:])
        return (
            f"case when {rule.column} <> {expected} then 'row ' || _row_number || ': {rule.column} ' "
            f"|| {rule.column} || ' <> ' || ({expected}) end"
        )
    return (
        f"case when {rule.column} < {rule.operands[0]} then 'row ' || _row_number || ': {rule.column} ' "
        f"|| {rule.column} || ' < {rule.operands[0]} ' || {rule.operands[0]} end"
    )


def gate_view_sql(contract: Contract, batch_id: int) -> str:
    """``create or replace view`` of the gate view on one batch, with a column per row rule.

    A row rule is then a column-map expectation (``expect_column_values_to_be_null``)
    whose unexpected count GX computes in the one aggregate query of the first pass, with
    every other column's: no scan of the batch of its own. As GX's ``UnexpectedRowsExpectation``
    each rule took two (a count, then the rows), four scans for the settlements' two rules,
    half of the gate's time on a 1M-row batch (issue 10). PostgreSQL computes a rule's column
    only in the statements that read it.
    """
    rules = "".join(f", {row_rule_sql(rule)} as {row_rule_column(rule)}" for rule in contract.row_rules)
    return (
        f"create or replace view {gate_view(contract)} as select *{rules} "
        f"from {contract.raw_table} where _batch_id = {int(batch_id)}"
    )


def data_docs_index() -> Path:
    """The Data Docs site's index page (built by ``data_docs.build_data_docs``)."""
    return data_docs_dir() / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def _has_unexpected(result) -> bool:
    return bool((result.result or {}).get("unexpected_count"))


def run_suite(batch_definition, suite):
    """Validate ``suite`` on the batch in two passes (see the module docstring); return the suite result.

    Returns a ``great_expectations.core.ExpectationSuiteValidationResult`` whose results
    carry, for every expectation, its observed value / unexpected and element counts,
    and for those that found unexpected values up to 20 example values.
    """
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(batch_definition=batch_definition, result_format=RESULT_FORMAT_COUNTS)
    suite_result = validator.validate_expectation_suite(suite)
    again = [i for i, r in enumerate(suite_result.results) if _has_unexpected(r)]
    if again:
        validator.result_format = RESULT_FORMAT_EXAMPLES
        by_id = {e.id: e for e in suite.expectations}
        for i in again:
            expectation = by_id.get(suite_result.results[i].expectation_config.id)
            if expectation is not None:
                suite_result.results[i] = validator.validate_expectation(expectation)
    return suite_result


def _failure_text(label: str, rule: str | None, result: dict) -> str:
    """A failed expectation for the ledger's message: its name, its rule in words, what was found.

    e.g. ``expect_table_row_count_to_be_between (volume: a day's extract has at least one
    record): observed 0`` or ``expect_column_values_to_be_in_set(sex) (contract: sex codes):
    2 of 25 rows, e.g. '?'``.
    """
    text = f"{label} ({rule})" if rule else label
    unexpected = result.get("unexpected_count")
    if unexpected:
        examples = ", ".join(
            repr(v) for v in list(dict.fromkeys(map(str, result.get("partial_unexpected_list") or [])))[:3]
        )
        found = f"{unexpected} of {result.get('element_count')} rows" + (f", e.g. {examples}" if examples else "")
        return f"{text}: {found}"
    observed = result.get("observed_value")
    return f"{text}: observed {observed}" if observed is not None else text


#: What the ledger's message of a batch held back by the gate tells its reader to do.
HELD_BACK_ADVICE = (
    "not published (every check: audit.dq_results, Data Docs); ask the department for a corrected file, "
    "put it in the date's landing folder in place of this one and re-run the date"
)


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
            failed.append(_failure_text(label, (config.meta or {}).get("rule"), result))
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


def _store_validation_result(context, suite_result, run_name: str) -> None:
    """Keep a suite result in the context's validation results store, as a checkpoint run would.

    Data Docs (``data_docs.build_data_docs``) render it later; ``run_name`` is
    ``<source>-<YYYY-MM-DD>-batch<N>`` so a day's results can be picked out.
    """
    import datetime as dt

    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    run_id = RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC))
    suite_result.meta["run_id"] = run_id
    suite_result.meta["validation_time"] = run_id.run_time
    suite_result.meta["batch_parameters"] = None
    suite_id = ExpectationSuiteIdentifier(name=suite_result.suite_name)
    context.validation_results_store.store_validation_results(
        suite_validation_result=suite_result,
        suite_validation_result_identifier=ValidationResultIdentifier(
            expectation_suite_identifier=suite_id, run_id=run_id, batch_identifier=suite_result.batch_id
        ),
        expectation_suite_identifier=suite_id,
    )


def validate_batch(conn: psycopg.Connection, db: Database, contract: Contract, batch_id: int) -> GateResult:
    """Validate one loaded batch and publish it or hold it back (see the module docstring).

    A batch the loader rejected is not validated: it stays ``rejected``.
    Raises ``LookupError`` when the batch does not exist.
    """
    import fasteners

    row = conn.execute(
        "select status, logical_date, file_name, message from audit.load_batches where batch_id = %s", (batch_id,)
    ).fetchone()
    if row is None:
        raise LookupError(f"no batch {batch_id} in audit.load_batches")
    status, logical_date, file_name, message = row
    if status == "rejected":
        return GateResult(batch_id, "rejected", message)

    previous = None
    if contract.full_extract:
        previous = conn.execute(
            """select sum(rows_loaded) from audit.load_batches
               where source = %s and status = 'published'
                 and logical_date = (select max(logical_date) from audit.load_batches
                                     where source = %s and status = 'published' and logical_date < %s)""",
            (contract.source, contract.source, logical_date),
        ).fetchone()[0]
    view = gate_view(contract)
    lock = fasteners.InterProcessLock(str(data_docs_dir() / ".gx.lock"))
    data_docs_dir().mkdir(parents=True, exist_ok=True)
    if not conn.autocommit:
        conn.commit()  # GX reads through its own connection: the view must be committed, not a savepoint
    with lock:  # one validation at a time: the view and the context's files are shared
        with conn.transaction():
            conn.execute(f"drop view if exists {view}")  # an earlier release's view may lack the rule columns
            conn.execute(gate_view_sql(contract, batch_id))
        try:
            context, batch_definition = _batch_definition(db, contract)
            suite = context.suites.add_or_update(build_suite(contract, logical_date, previous))
            suite_result = run_suite(batch_definition, suite)
            _store_validation_result(context, suite_result, f"{contract.source}-{logical_date}-batch{batch_id}")
        finally:
            if not conn.autocommit:
                conn.rollback()  # a failed statement would leave the transaction unusable
            with conn.transaction():
                conn.execute(f"drop view if exists {view}")
    results = suite_result.results
    with conn.transaction():
        failed = _store_results(conn, contract, batch_id, logical_date, results)
        if failed:
            new_status = "failed_validation"
            message = f"{file_name}: failed blocking expectations: {'; '.join(failed)}. {HELD_BACK_ADVICE}"
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
