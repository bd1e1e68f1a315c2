"""`hm run` says why a DAG run failed: each failed task and its problem, read from the run's log."""

from __future__ import annotations

from household_monitoring.local_runs import failure_reasons

#: What `airflow dags test` wrote for a day whose medical settlements file was empty (abridged, real format).
LOG = """
$ airflow dags test household_monitoring_daily 2024-07-15T00:00:00+08:00
[0m14:15:21  Done. PASS=375 WARN=0 ERROR=0 SKIP=0 NO-OP=3 TOTAL=378

$ airflow dags test household_monitoring_daily 2024-07-16T00:00:00+08:00
2026-12-02T14:17:34.491889Z [warning  ] batch rejected: late_export.csv: the file is empty (no header)
2026-12-02T14:17:34.543094Z [error    ] Task failed with exception     [task] loc=task_runner.py:1639
Traceback (most recent call last):
  File "/work/main/dags/household_monitoring_daily.py", line 168, in ingest
    raise AirflowFailException(str(failed)) from None
airflow.sdk.exceptions.AirflowFailException: late_export.csv: the file is empty (no header)
2026-12-02T14:17:34Z [warning  ] alert not delivered: batch held back: medical_settlements 2024-07-16

DAG run: household_monitoring_daily / manual__2026-12-02T14:16:47.090381+00:00
task:    medical_settlements.ingest
date:    2024-07-16
source:  medical_settlements
file:    late_export.csv
problem: late_export.csv: the file is empty (no header)
 [household_monitoring.service.alerts] loc=alerts.py:80
2026-12-02T14:20:18.640094Z [warning  ] alert not delivered: [household monitoring] task failed: audit_day 2024-07-16

DAG run: household_monitoring_daily / manual__2026-12-02T14:16:47.090381+00:00
task:    audit_day
date:    2024-07-16
source:  -
file:    -
problem: AirflowFailException: 1 batch(es) of 2024-07-16 not published: medical_settlements/late_export.csv
 [household_monitoring.service.alerts] loc=alerts.py:80
DagRun failed
"""


def test_each_failed_task_and_its_problem_once_in_log_order(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(LOG + LOG.split("DagRun failed")[0][-400:], encoding="utf-8")  # an alert logged twice
    assert failure_reasons(log) == [
        ("medical_settlements.ingest", "late_export.csv: the file is empty (no header)"),
        (
            "audit_day",
            "AirflowFailException: 1 batch(es) of 2024-07-16 not published: medical_settlements/late_export.csv",
        ),
    ]


def test_only_the_run_between_its_offsets_is_read(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(LOG, encoding="utf-8")
    after_first_alert = LOG.index("2026-12-02T14:20:18")
    assert [task for task, _ in failure_reasons(log, len(LOG[:after_first_alert].encode()))] == ["audit_day"]
    assert failure_reasons(log, len(LOG.encode())) == []
    # A run's bytes only: the next date's alerts, already in the log, are not its own.
    end = len(LOG[:after_first_alert].encode())
    assert [task for task, _ in failure_reasons(log, 0, end)] == ["medical_settlements.ingest"]


def test_a_long_problem_is_cut_at_300_characters_with_an_ellipsis(tmp_path):
    log = tmp_path / "run.log"
    problem = "housing_water_20240716.csv: " + "not UTF-8 at line 2, byte offset 20: ff; " * 10
    log.write_text(f"task:    housing_water.ingest\nproblem: {problem}\n", encoding="utf-8")
    ((task, shown),) = failure_reasons(log)
    assert (task, len(shown), shown[-1], shown[:299]) == ("housing_water.ingest", 300, "…", problem[:299])
    log.write_text(f"task:    audit_day\nproblem: {problem[:300]}\n", encoding="utf-8")
    assert failure_reasons(log) == [("audit_day", problem[:300])]  # exactly 300: kept whole
