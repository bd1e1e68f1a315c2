"""
### Household monitoring: a department's push, loaded within a minute

A department that does not want to wait for the nightly run drops its file in the landing
zone (`<landing>/<source>/<YYYY-MM-DD>/<file>`) and publishes a push on NATS JetStream
(`hm push SOURCE DATE FILE`, subject `hm.push.<source>`, body
`{"source", "logical_date", "file"}`). The Asset `household_monitoring://push/departments`
is watched by `NatsPushTrigger` (a durable JetStream consumer: a burst is never lost);
each push becomes an asset event, and this DAG runs for the events:

1. `load_pushes` loads and validates each pushed file once (a file already published with
   the same SHA-256 for its source and date is not loaded again: delivery is at least once),
   publishing `household_monitoring://raw/<source>` like the nightly load;
2. `build_marts` rebuilds the marts as of the latest pushed date (or the marts' own date
   when later), under the same warehouse lock as the nightly build, so two builds never run
   together; a build that started after this run's files were published already holds them,
   and then nothing is built again (`audit.marts_builds`).

Runs of this DAG may overlap (`max_active_runs=16`): each push's run is created at once, its
load waits for no other (one loader per file: an advisory lock) and the builds queue on the
marts lock. With `max_active_runs=1`, Airflow 3.3 holds the pushes that arrive while a run is
active in one queue entry and creates the next run for the first of them only: the others
waited for the next push (measured: 2 of a burst of 5 loaded).

Without a NATS server the trigger keeps retrying and the nightly DAG runs as usual.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, AssetWatcher, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from household_monitoring.config import WAREHOUSE_CONN_ID
from household_monitoring.service.push import NatsPushTrigger, nats_settings

_URL, _STREAM, _PREFIX = nats_settings()
PUSH_ASSET = Asset(
    "household_monitoring://push/departments",
    group="push",
    watchers=[
        AssetWatcher(
            name="department_pushes",
            trigger=NatsPushTrigger(url=_URL, stream=_STREAM, subject=f"{_PREFIX}.>", durable="household_monitoring"),
        )
    ],
)
MARTS_ASSET = Asset("household_monitoring://marts/risk", group="marts")


def _warehouse():
    from airflow.sdk import Connection

    from household_monitoring.config import database_from_connection

    return database_from_connection(Connection.get(WAREHOUSE_CONN_ID))


def _alert_failure(context) -> None:
    from household_monitoring.service.alerts import on_task_failure

    on_task_failure(context)


@dag(
    dag_id="household_monitoring_push",
    schedule=[PUSH_ASSET],
    start_date=pendulum.datetime(2024, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=16,
    doc_md=__doc__,
    tags=["household_monitoring", "ingest", "quality", "dbt", "push"],
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "on_failure_callback": _alert_failure,
    },
)
def household_monitoring_push():
    @task
    def load_pushes(**context) -> list[dict]:
        from household_monitoring.pipeline import SourceFailed
        from household_monitoring.service.push import Push, load_pushed_file

        events = [event for evs in context["triggering_asset_events"].values() for event in evs]
        pushes = []
        for event in events:
            try:
                extra = dict(event.extra or {})  # a trigger's event: {"from_trigger": true, "payload": {...}}
                pushes.append(Push.from_payload(extra.get("payload", extra)))
            except ValueError as bad:
                print(f"ignored: {bad}")
        if not pushes:
            raise AirflowSkipException("no valid push in the triggering events")
        loaded, failed = [], []
        for push in dict.fromkeys(pushes):  # a push delivered twice in one run is loaded once
            try:
                loaded.append(load_pushed_file(push, _warehouse(), dag_run_id=context["run_id"]))
            except (SourceFailed, FileNotFoundError, KeyError) as problem:
                failed.append(f"{push.source}/{push.logical_date}/{push.file}: {problem}")
        for result in loaded:
            print(f"{result['source']} {result['logical_date']} {result['file']}: {result['status']}")
        if failed:
            raise AirflowFailException("; ".join(failed))
        return loaded

    @task(outlets=[MARTS_ASSET])
    def build_marts(loaded: list[dict], **context) -> str:
        from datetime import date

        from household_monitoring.database import connect
        from household_monitoring.pipeline import build_marts as build
        from household_monitoring.service.push import marts_as_of

        db = _warehouse()
        with connect(db) as conn:  # the loads above are committed: a build started from now on holds them
            published_by = conn.execute("select now()").fetchone()[0]
        # A late file for an earlier day never moves the marts back in time.
        as_of = max([date.fromisoformat(item["logical_date"]) for item in loaded] + [marts_as_of(db) or date.min])
        if build(as_of, db, dag_run_id=context["run_id"], unless_built_since=published_by) is None:
            print(f"marts as of {as_of} already rebuilt with this run's files by a later-started build")
        return as_of.isoformat()

    build_marts(load_pushes())


household_monitoring_push()
