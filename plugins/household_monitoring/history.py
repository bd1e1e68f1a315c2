"""Loading a history of daily extracts without one DAG run per day.

``load_history`` walks the dates of a range in order and, for each date and source,
does what the DAG's ingest task does (``pipeline.ingest_source``: ``loading.load_file``
into raw/quarantine, the Great Expectations gate, publish), then builds the marts once
(``pipeline.build_marts`` as of the last date, a full build on an empty warehouse).
The daily runs after it go through the DAG. Re-running a range supersedes its
batches as a DAG re-run would (the loader's rule): nothing is duplicated.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from household_monitoring.config import Database, landing_dir

log = logging.getLogger(__name__)


@dataclass
class HistoryLoad:
    """What ``load_history`` did: batches, rows, held-back files and seconds per phase."""

    start: date
    end: date
    batches: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    held_back: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def landed_dates(landing: Path) -> list[date]:
    """Every date that has a folder under some source of ``landing``, in order."""
    found = set()
    for source in landing.iterdir() if landing.exists() else []:
        for folder in source.iterdir() if source.is_dir() else []:
            try:
                found.add(date.fromisoformat(folder.name))
            except ValueError:
                continue
    return sorted(found)


def load_history(
    db: Database,
    start: date,
    end: date,
    *,
    landing: Path | None = None,
    build: bool = True,
    progress=None,
) -> HistoryLoad:
    """Load and gate every source's files of every date ``start .. end``, then build the marts once.

    ``progress(day, seconds)`` is called after each date. A source with no file on a
    date is skipped; a held-back batch (rejected or failed validation) is listed in
    ``held_back`` and the load goes on, as the DAG does. Raises ``dbt.DbtFailed`` when
    the build fails and ``ValueError`` when ``end`` is before ``start``.
    """
    from household_monitoring.contracts import load_contracts
    from household_monitoring.pipeline import SourceFailed, build_marts, ingest_source, prepare_warehouse

    if end < start:
        raise ValueError(f"the range {start} .. {end} is empty")
    landing = landing or landing_dir()
    result = HistoryLoad(start, end)
    started = time.perf_counter()
    prepare_warehouse(db)
    sources = list(load_contracts())
    day = start
    while day <= end:
        t0 = time.perf_counter()
        for source in sources:
            if not (landing / source / day.isoformat()).is_dir():
                continue
            try:
                done = ingest_source(source, day, db, landing)
            except FileNotFoundError:
                continue
            except SourceFailed as failed:  # the held-back files count too: every row read is loaded or quarantined
                result.held_back.append(f"{source} {day}: {failed}")
                if failed.day is None:
                    continue
                done = failed.day
            result.batches += done.files
            result.rows_read += done.rows_read
            result.rows_loaded += done.rows_loaded
            result.rows_quarantined += done.rows_quarantined
        if progress:
            progress(day, time.perf_counter() - t0)
        day += timedelta(days=1)
    result.seconds["load_and_gate"] = time.perf_counter() - started
    if build:
        t0 = time.perf_counter()
        build_marts(end, db)
        result.seconds["build"] = time.perf_counter() - t0
    return result
