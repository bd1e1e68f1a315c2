"""
### Household monitoring: daily load, quality gate and marts

One DAG run per day of extracts: the run for data interval [D, D+1) (Asia/Shanghai)
has logical date D and processes the files the departments dropped for D:

1. `prepare_warehouse` creates the pipeline's schemas and tables (idempotent).
2. For each source with a contract in `expectations/contracts/`, a task group
   `<source>` loads that day's files from `<landing>/<source>/<YYYY-MM-DD>/`
   into `raw.<source>` (bad rows to `quarantine.<source>`, counts in
   `audit.load_batches`), validates each batch with Great Expectations and
   publishes it. Its outlet is the Asset `household_monitoring://raw/<source>`.
   A source whose batch is rejected fails alone; the others go on.
   A source that sent nothing that day is skipped.
3. `build_marts` runs `dbt build` as of the logical date on what was published
   (trigger rule `all_done`: a failed source never blocks the marts).
   Its outlet is `household_monitoring://marts/risk`. Builds run in date order and one
   at a time: while a run of an earlier logical date is queued or running (a backfill
   started beside the daily run), it waits (rescheduled every 30 s, no worker slot held),
   and the build holds a warehouse lock, so the marts end as of the latest date.
4. `publish_report` (after `build_marts`) generates the dbt docs and writes the county
   daily report `var/reports/<YYYY-MM-DD>/index.html` from the marts, linking the dbt
   docs and the Data Docs. Its outlet is `household_monitoring://reports/county_daily`.
5. `publish_worklists` (after `build_marts`) writes each official's work list of the day
   (new, due and overdue warnings from `marts.fct_warning_assignments`) under
   `var/reports/worklists/<YYYY-MM-DD>/` and sends it by email and webhook, once per date
   and channel (`audit.notifications_sent`). Its outlet is `household_monitoring://reports/worklists`.
   Nothing is sent while a source has sent files but never had one published (the warnings
   would be computed without it): the task fails, naming the sources, and alerts the data engineer.
6. `audit_day` renders the day's Data Docs (once per run, from every batch's validation,
   readable offline), reconciles the ledger and fails the run if any batch was held back,
   so a bad file is visible in the run's state. Sources that sent no file for the day
   are logged as a freshness alert (returned as `sources_without_file`), without
   failing the run: a department that sends nothing on a holiday is normal; the data
   engineer gets a stale-source alert for each.

A failed task alerts the data engineer (email and webhook, `household_monitoring.service.alerts`),
naming the DAG run, the source, the file and the problem.

The warehouse is the Airflow connection `hm_warehouse`
(`AIRFLOW_CONN_HM_WAREHOUSE`). Nothing heavy is imported at parse time.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, TaskGroup, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException, AirflowSkipException

from household_monitoring.config import WAREHOUSE_CONN_ID
from household_monitoring.contracts import source_names

TIMEZONE = "Asia/Shanghai"
SOURCES = source_names()  # file names only: no YAML parsing at parse time
RAW_ASSETS = {source: Asset(f"household_monitoring://raw/{source}", group="raw") for source in SOURCES}
MARTS_ASSET = Asset("household_monitoring://marts/risk", group="marts")
REPORT_ASSET = Asset("household_monitoring://reports/county_daily", group="reports")
WORKLISTS_ASSET = Asset("household_monitoring://reports/worklists", group="reports")


def _extract_date(context):
    """The date of the extracts a run processes: its logical date, in the DAG's timezone.

    A scheduled run for the interval [D, D+1) and a manual run (``airflow dags test``)
    for logical date D both have logical date D; their data intervals differ. A manual
    run without a logical date (Airflow 3: the UI's trigger button, ``airflow dags
    trigger`` without ``-l``) takes the date from its configuration (the ``date``
    parameter, ``{"date": "YYYY-MM-DD"}``). Raises ``AirflowFailException`` (no retry:
    waiting does not give a run a date) when neither is given, the date is not
    ``YYYY-MM-DD``, or both are given and differ.
    """
    logical_date = context.get("logical_date")
    given = (context.get("params") or {}).get("date") or ((context["dag_run"].conf or {}).get("date"))
    how = (
        "trigger it with a logical date (airflow dags trigger household_monitoring_daily -l 2024-07-18)"
        ' or with the date in its configuration (-c \'{"date": "2024-07-18"}\', or the date field of the trigger form)'
    )
    if given is not None:
        try:
            given = pendulum.Date.fromisoformat(str(given))
        except ValueError:
            raise AirflowFailException(f"the run's date {given!r} is not a date YYYY-MM-DD: {how}") from None
    if logical_date is None:
        if given is None:
            raise AirflowFailException(f"this run has no logical date, so no extract date: {how}")
        return given
    day = logical_date.in_timezone(TIMEZONE).date()
    if given is not None and given != day:
        raise AirflowFailException(f"the run's date {given} differs from its logical date {day}: give one of them")
    return day


def _alert_failure(context) -> None:
    from household_monitoring.service.alerts import on_task_failure

    on_task_failure(context)


def _earlier_run_active(context) -> str | None:
    """The run id of a queued or running DAG run with an earlier logical date, else ``None``."""
    for state in ("running", "queued"):
        earlier = context["ti"].get_previous_dagrun(state=state)
        if earlier is not None:
            return earlier.run_id
    return None


def _warehouse():
    from airflow.sdk import Connection

    from household_monitoring.config import database_from_connection

    return database_from_connection(Connection.get(WAREHOUSE_CONN_ID))


@dag(
    dag_id="household_monitoring_daily",
    # Runs after midnight for the day that ended: data interval [D, D+1), logical date D.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2024, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["household_monitoring", "ingest", "quality", "dbt"],
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "on_failure_callback": _alert_failure,
    },
    # A manual run without a logical date gives the extracts' date here (see _extract_date).
    params={
        "date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Date of the extracts (YYYY-MM-DD), for a manual run without a logical date.",
        )
    },
)
def household_monitoring_daily():
    @task
    def prepare_warehouse() -> None:
        from household_monitoring.pipeline import prepare_warehouse as prepare

        prepare(_warehouse())

    def source_group(source: str) -> TaskGroup:
        with TaskGroup(group_id=source, tooltip=f"load, validate and publish {source}") as group:

            @task(task_id="ingest", outlets=[RAW_ASSETS[source]])
            def ingest(**context) -> dict:
                from dataclasses import asdict

                from household_monitoring.pipeline import SourceFailed, ingest_source

                try:
                    day = ingest_source(
                        source,
                        _extract_date(context),
                        _warehouse(),
                        dag_run_id=context["run_id"],
                    )
                except FileNotFoundError as missing:
                    raise AirflowSkipException(str(missing)) from None
                except SourceFailed as failed:
                    # A bad file does not improve with retries: fail at once.
                    raise AirflowFailException(str(failed)) from None
                return asdict(day)

            ingest()
        return group

    @task(trigger_rule="all_done", outlets=[MARTS_ASSET])
    def build_marts(**context) -> None:
        from household_monitoring.dbt import DbtFailed
        from household_monitoring.pipeline import build_marts as build

        earlier = _earlier_run_active(context)
        if earlier is not None:  # marts are built in date order: let the earlier run build first
            print(f"waiting for the earlier run {earlier} to finish")
            raise AirflowRescheduleException(pendulum.now("UTC").add(seconds=30))
        try:
            build(_extract_date(context), _warehouse(), dag_run_id=context["run_id"])
        except DbtFailed as failed:
            if failed.data_tests_failed:  # the same data fails the same tests: no retry
                raise AirflowFailException(str(failed)) from None
            raise

    @task(outlets=[REPORT_ASSET])
    def publish_report(**context) -> str:
        from household_monitoring.pipeline import publish_report as publish

        return publish(_extract_date(context), _warehouse())

    @task(outlets=[WORKLISTS_ASSET])
    def publish_worklists(**context) -> dict:
        from household_monitoring.pipeline import publish_worklists as publish
        from household_monitoring.worklists import WorklistError

        try:
            return publish(_extract_date(context), _warehouse())
        except WorklistError as cannot:  # a source never published, marts of another date: a retry changes nothing
            raise AirflowFailException(str(cannot)) from None

    @task(trigger_rule="all_done", retries=0)
    def audit_day(**context) -> dict:
        from household_monitoring.pipeline import SourceFailed
        from household_monitoring.pipeline import audit_day as audit

        try:
            totals = audit(_extract_date(context), _warehouse())
        except SourceFailed as failed:
            raise AirflowFailException(str(failed)) from None
        if totals["sources_without_file"]:
            from household_monitoring.service.alerts import stale_sources

            stale_sources(context, totals["sources_without_file"])
        return totals

    groups = [source_group(source) for source in SOURCES]
    marts = build_marts()
    prepare_warehouse() >> groups >> marts >> [publish_report(), publish_worklists(), audit_day()]


household_monitoring_daily()
