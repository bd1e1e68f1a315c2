"""The work of the daily DAG, one function per task, free of Airflow.

Each function takes the logical date it works for (never "now") and the
warehouse, and gives the same result when run again: a re-run of a date
supersedes that date's batches (see ``loading``), and dbt rebuilds the marts as of
the date. The DAG in ``dags/`` only wires these functions together.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from household_monitoring.config import Database, landing_dir, var_dir
from household_monitoring.contracts import load_contracts
from household_monitoring.database import connect, migrate

log = logging.getLogger(__name__)


class SourceFailed(RuntimeError):
    """A source's batch was rejected or failed the quality gate; the message names files and problems."""


@dataclass
class SourceDay:
    """What a source's ingest did for one logical date (XCom-serialisable via ``asdict``)."""

    source: str
    logical_date: str
    files: int
    published: list[int]
    held_back: list[str]
    rows_read: int
    rows_loaded: int
    rows_quarantined: int


def id_salt() -> str:
    """The salt of person keys: ``HM_ID_SALT``, else one generated once into ``var/`` (never the repo)."""
    salt = os.environ.get("HM_ID_SALT")
    if salt:
        return salt
    path = var_dir() / "id_salt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def prepare_warehouse(db: Database) -> None:
    """Create the pipeline's schemas and tables (idempotent)."""
    with connect(db) as conn:
        migrate(conn)


def ingest_source(
    source: str, logical_date: date, db: Database, landing: Path | None = None, dag_run_id: str | None = None
) -> SourceDay:
    """Load, validate and publish every file of ``source`` landed for ``logical_date``.

    The warehouse is made to match the landing folder: batches of files that are no
    longer there are withdrawn first (see ``loading.withdraw_missing``).
    Returns a ``SourceDay``. Raises ``SourceFailed`` when a file was rejected or
    failed the gate (the other files of the day are still published), and
    ``FileNotFoundError`` when no file landed (the DAG marks the source skipped).
    """
    from household_monitoring.loading import landed_files, load_file, withdraw_missing
    from household_monitoring.quality import validate_batch

    contract = load_contracts()[source]
    files = landed_files(landing or landing_dir(), contract, logical_date)
    with connect(db) as conn:
        withdrawn = withdraw_missing(conn, contract, logical_date, [p.name for p in files])
    if withdrawn:
        log.warning("%s %s: withdrawn, no longer in the landing zone: %s", source, logical_date, ", ".join(withdrawn))
    if not files:
        raise FileNotFoundError(
            f"{source}: no file matching {contract.file_pattern} in "
            f"{(landing or landing_dir()) / source / logical_date.isoformat()}"
        )
    day = SourceDay(source, logical_date.isoformat(), len(files), [], [], 0, 0, 0)
    with connect(db) as conn:
        for path in files:
            loaded = load_file(conn, contract, path, logical_date, dag_run_id=dag_run_id)
            day.rows_read += loaded.rows_read
            day.rows_loaded += loaded.rows_loaded
            day.rows_quarantined += loaded.rows_quarantined
            gate = validate_batch(conn, db, contract, loaded.batch_id)
            if gate.status == "published":
                day.published.append(loaded.batch_id)
            else:
                day.held_back.append(gate.message or f"{path.name}: {gate.status}")
    if day.held_back:
        raise SourceFailed("; ".join(day.held_back))
    return day


def refresh_statistics(logical_date: date, db: Database) -> list[str]:
    """ANALYZE what the day's loads wrote, before dbt reads it; returns the tables analysed.

    The ledger (``audit.load_batches``, ``audit.dq_results``) and, for every source with a
    batch of ``logical_date`` in the ledger (loaded, published, held back or superseded by a
    re-run), its ``raw`` and ``quarantine`` tables. Without fresh statistics PostgreSQL plans
    a freshly filled table as a handful of rows and nests loops over it (issue 10: one income
    query > 60 s at 30,000 households, 1.7 s after ANALYZE). ANALYZE reads a fixed-size sample
    (300 x default_statistics_target rows), so its cost does not grow with the tables.
    """
    contracts = load_contracts()
    with connect(db, autocommit=True) as conn:
        touched = [
            source
            for (source,) in conn.execute(
                "select distinct source from audit.load_batches where logical_date = %s order by 1", (logical_date,)
            ).fetchall()
            if source in contracts
        ]
        tables = ["audit.load_batches", "audit.dq_results"]
        for source in touched:
            tables += [contracts[source].raw_table, contracts[source].quarantine_table]
        for table in tables:
            conn.execute(f"analyze {table}")
    log.info("statistics refreshed for %s: %s", logical_date, ", ".join(tables))
    return tables


def build_marts(logical_date: date, db: Database) -> None:
    """Fresh statistics (``refresh_statistics``), then ``dbt build`` of every model, seed and test,
    as of ``logical_date``.

    Raises ``dbt.DbtFailed`` naming the failing nodes.
    """
    from household_monitoring.dbt import run_dbt

    refresh_statistics(logical_date, db)
    run_dbt(["build", "--vars", f"{{as_of_date: '{logical_date.isoformat()}'}}"], db=db, salt=id_salt())


def publish_report(logical_date: date, db: Database) -> str:
    """dbt docs, then the county daily report of ``logical_date`` (``report``); returns the report's path.

    Run after ``build_marts`` for the same date: raises ``report.ReportError`` when the
    marts describe another date, ``DbtFailed`` when ``dbt docs generate`` fails.
    """
    from household_monitoring.report import generate_dbt_docs, render_report

    generate_dbt_docs(db, id_salt())
    return str(render_report(logical_date, db))


def audit_day(logical_date: date, db: Database) -> dict:
    """The day's reconciliation from the ledger; raises ``SourceFailed`` if a batch was held back.

    Returns ``{"batches": n, "rows_read": n, "rows_loaded": n, "rows_quarantined": n,
    "sources_without_file": [source, ...]}``. A source with no file for the day is a
    freshness alert: logged as a warning (and in ``marts.fct_source_daily_scorecard``),
    never a failure of the run, since a department that sends nothing on a holiday, or
    sends monthly, is normal; a source past its contract's freshness is ``is_stale`` there.
    """
    with connect(db) as conn:
        rows = conn.execute(
            """select source, file_name, status, rows_read, rows_loaded, rows_quarantined, message
               from audit.load_batches
               where logical_date = %s and status <> 'superseded'
               order by source, file_name""",
            (logical_date,),
        ).fetchall()
    held = [
        f"{source}/{name}: {status}: {message}" for source, name, status, *_, message in rows if status != "published"
    ]
    totals = {
        "batches": len(rows),
        "rows_read": sum(r[3] for r in rows),
        "rows_loaded": sum(r[4] for r in rows),
        "rows_quarantined": sum(r[5] for r in rows),
    }
    sent = {source for source, *_ in rows}
    silent = [source for source in load_contracts() if source not in sent]
    totals["sources_without_file"] = silent
    if silent:
        log.warning("freshness alert for %s: no file from %s (logged, not a failure)", logical_date, ", ".join(silent))
    log.info("ledger for %s: %s", logical_date, totals)
    if held:
        raise SourceFailed(f"{len(held)} batch(es) of {logical_date} not published: " + "; ".join(held))
    return totals
