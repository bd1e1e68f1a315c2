"""DAG integrity: the DAG files import cleanly, carry tags and retries, and do no work at parse time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

from household_monitoring.config import DAGS_DIR, PROJECT_ROOT
from household_monitoring.contracts import source_names

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

#: Tasks whose failure no retry can heal: a held-back batch stays held back.
NO_RETRY_TASKS = {"audit_day"}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"household_monitoring_daily", "household_monitoring_push"}


def test_tags_owner_and_retries(dagbag):
    for dag in dagbag.dags.values():
        assert {"household_monitoring", "ingest", "quality", "dbt"} <= set(dag.tags)
        # The daily DAG builds the marts in date order, one run at a time; the push DAG's runs overlap
        # (pushes arriving while a run is active would otherwise wait for the next push: see its doc).
        assert dag.max_active_runs == (1 if dag.dag_id == "household_monitoring_daily" else 16)
        assert dag.catchup is False
        for task in dag.tasks:
            assert task.owner == "data-engineering"
            if task.task_id not in NO_RETRY_TASKS:
                assert task.retries >= 2, task.task_id


def test_one_ingest_task_group_per_contract_with_its_asset(dagbag):
    dag = dagbag.dags["household_monitoring_daily"]
    sources = source_names()
    assert sources == [
        "agriculture_income",
        "disability",
        "education",
        "employment",
        "household_register",
        "housing_water",
        "medical_settlements",
        "public_welfare_jobs",
        "social_assistance",
        "verifications",
        "village_officials",
    ]
    for source in sources:
        task = dag.get_task(f"{source}.ingest")
        assert [a.uri for a in task.outlets] == [f"household_monitoring://raw/{source}"]
        assert task.upstream_task_ids == {"prepare_warehouse"}
        assert task.downstream_task_ids == {"build_marts"}
    marts = dag.get_task("build_marts")
    assert marts.trigger_rule == "all_done"
    assert [a.uri for a in marts.outlets] == ["household_monitoring://marts/risk"]
    assert dag.get_task("audit_day").upstream_task_ids == {"build_marts"}
    report = dag.get_task("publish_report")
    assert report.upstream_task_ids == {"build_marts"}
    assert report.trigger_rule == "all_success"  # no report from marts that failed to build
    assert [a.uri for a in report.outlets] == ["household_monitoring://reports/county_daily"]
    worklists = dag.get_task("publish_worklists")
    assert worklists.upstream_task_ids == {"build_marts"}
    assert worklists.trigger_rule == "all_success"  # no work list from marts that failed to build
    assert [a.uri for a in worklists.outlets] == ["household_monitoring://reports/worklists"]


@pytest.mark.parametrize("dag_file", ["household_monitoring_daily.py", "household_monitoring_push.py"])
def test_parsing_imports_nothing_heavy(dag_file):
    """Parsing a DAG file must not import GX, dbt, Arrow, a database or NATS driver, nor touch a database."""
    code = (
        "import json, runpy, sys; "
        f"runpy.run_path({str(DAGS_DIR / dag_file)!r}); "
        "heavy = ['great_expectations', 'dbt', 'pyarrow', 'psycopg', 'nats', 'household_monitoring.loading', "
        "'household_monitoring.quality', 'household_monitoring.report', 'matplotlib', 'pandas']; "
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT / "plugins"),
        "HM_DATABASE_URL": "postgresql://nobody@256.0.0.1/x",
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_run_without_a_logical_date_takes_the_date_from_its_configuration_or_fails_at_once():
    """Airflow 3 allows manual runs without a logical date (issue 12, item 10): no KeyError, no retries."""
    import importlib.util
    from datetime import date
    from types import SimpleNamespace

    import pendulum
    from airflow.sdk.exceptions import AirflowFailException

    spec = importlib.util.spec_from_file_location("hm_daily_dag", DAGS_DIR / "household_monitoring_daily.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def context(logical_date=None, date_param=None, conf=None):
        found = {"params": {"date": date_param}, "dag_run": SimpleNamespace(conf=conf or {})}
        return {**found, "logical_date": logical_date} if logical_date else found

    scheduled = pendulum.datetime(2024, 7, 17, 16, tz="UTC")  # 2024-07-18 00:00 in Asia/Shanghai
    assert module._extract_date(context(scheduled)) == date(2024, 7, 18)
    assert module._extract_date(context(date_param="2024-07-18")) == date(2024, 7, 18)
    assert module._extract_date(context(conf={"date": "2024-07-19"})) == date(2024, 7, 19)
    assert module._extract_date(context(scheduled, "2024-07-18")) == date(2024, 7, 18)
    with pytest.raises(AirflowFailException) as missing:
        module._extract_date(context())
    assert str(missing.value).startswith(
        "this run has no logical date, so no extract date: trigger it with a logical date"
        " (airflow dags trigger household_monitoring_daily -l 2024-07-18)"
    )
    with pytest.raises(AirflowFailException, match=r"the run's date '18/07/2024' is not a date YYYY-MM-DD"):
        module._extract_date(context(date_param="18/07/2024"))
    with pytest.raises(
        AirflowFailException, match=r"the run's date 2024-07-01 differs from its logical date 2024-07-18"
    ):
        module._extract_date(context(scheduled, "2024-07-01"))


def test_failing_dbt_tests_fail_the_marts_build_at_once_and_errors_retry(dagbag, monkeypatch):
    """A dbt data test that finds rows fails the same way on every retry: no retry (break-it finding).

    An error (a lost connection, a lock timeout) may pass on the next try: it keeps the task's retries.
    """
    from datetime import date
    from types import SimpleNamespace

    import pendulum
    from airflow.sdk.exceptions import AirflowFailException

    from household_monitoring import pipeline
    from household_monitoring.dbt import DbtFailed

    build_marts = dagbag.dags["household_monitoring_daily"].get_task("build_marts")
    assert build_marts.retries == 2
    context = {
        "params": {"date": None},
        "run_id": "scheduled__2024-07-16T16:00:00+00:00",
        "dag_run": SimpleNamespace(conf={}),
        "logical_date": pendulum.datetime(2024, 7, 16, tz="Asia/Shanghai"),
        "ti": SimpleNamespace(get_previous_dagrun=lambda state: None),
    }
    monkeypatch.setitem(build_marts.python_callable.__globals__, "_warehouse", lambda: "warehouse")
    built: list[tuple[date, str]] = []

    def failing(failure: DbtFailed):
        def build(day, db, dag_run_id=None):
            built.append((day, db))
            raise failure

        return build

    tests_failed = DbtFailed("dbt build failed: test.x.unique_y: Got 2 results", data_tests_failed=True)
    monkeypatch.setattr(pipeline, "build_marts", failing(tests_failed))
    with pytest.raises(AirflowFailException, match=r"^dbt build failed: test\.x\.unique_y: Got 2 results$"):
        build_marts.python_callable(**context)
    error = DbtFailed("dbt build failed: model.x.y: server closed the connection unexpectedly")
    monkeypatch.setattr(pipeline, "build_marts", failing(error))
    with pytest.raises(DbtFailed) as raised:
        build_marts.python_callable(**context)
    assert not isinstance(raised.value, AirflowFailException) and raised.value is error
    assert built == [(date(2024, 7, 16), "warehouse")] * 2
