"""The data engineer's alerts: a failed task, a held-back batch, a stale source.

Each alert names the DAG run, the source, the file and the problem, and goes by email
and by webhook through ``household_monitoring.notify`` (``HM_SMTP_*``, ``HM_WEBHOOK_*``):

=========================  =====================================================
``HM_ALERT_EMAIL_TO``      recipients, comma-separated; unset = no alert email
``HM_ALERT_WEBHOOK_URL``   JSON webhook; unset = no alert webhook
=========================  =====================================================

Webhook body (one object per alert)::

    {"kind": "held_back_batch" | "failed_task" | "stale_source", "dag_id": ..., "run_id": ...,
     "task_id": ..., "logical_date": "YYYY-MM-DD", "source": ..., "file": ..., "problem": ...}

Alerts carry no resident ID or name (DESIGN.md, "Who is told"): the problem text is the
ledger's batch message or the task's error, which name files, rows and columns.
A channel that fails is logged, never raised: an alert must not fail the task it reports.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One alert. ``kind``: ``failed_task``, ``held_back_batch`` or ``stale_source``."""

    kind: str
    dag_id: str
    run_id: str
    task_id: str
    logical_date: str
    source: str
    file: str
    problem: str

    def subject(self) -> str:
        what = {"failed_task": "task failed", "held_back_batch": "batch held back", "stale_source": "stale source"}
        subject = self.source or self.task_id
        return f"[household monitoring] {what.get(self.kind, self.kind)}: {subject} {self.logical_date}"

    def text(self) -> str:
        return (
            f"{self.subject()}\n\n"
            f"DAG run: {self.dag_id} / {self.run_id}\n"
            f"task:    {self.task_id}\n"
            f"date:    {self.logical_date}\n"
            f"source:  {self.source or '-'}\n"
            f"file:    {self.file or '-'}\n"
            f"problem: {self.problem}\n"
        )


def send(alert: Alert) -> list[str]:
    """Send ``alert`` to every configured channel; return the channels that accepted it."""
    from household_monitoring import notify

    sent = []
    to = os.environ.get("HM_ALERT_EMAIL_TO")
    if to:
        try:
            notify.send_email(to, alert.subject(), alert.text())
            sent.append("email")
        except (notify.NotificationError, ValueError) as exc:
            log.error("alert email not sent: %s", exc)
    url = os.environ.get("HM_ALERT_WEBHOOK_URL")
    if url:
        try:
            notify.post_webhook(url, asdict(alert))
            sent.append("webhook")
        except notify.NotificationError as exc:
            log.error("alert webhook not sent: %s", exc)
    if not sent:
        log.warning("alert not delivered (HM_ALERT_EMAIL_TO / HM_ALERT_WEBHOOK_URL): %s", alert.text())
    return sent


def _logical_date(context) -> str:
    import pendulum

    value = context.get("logical_date")
    return pendulum.instance(value).in_timezone("Asia/Shanghai").date().isoformat() if value is not None else ""


def held_back_batches(db, run_id: str, source: str, logical_date: str = "") -> list[tuple[str, str]]:
    """``(file_name, message)`` of the batches of ``source`` loaded by DAG run ``run_id`` that were not published.

    When the ledger names no such batch of that run (e.g. the run id is not in the callback's
    context), the current held-back batches of ``source`` for ``logical_date`` are given.
    """
    from household_monitoring.database import connect

    with connect(db) as conn:
        rows = conn.execute(
            """select file_name, coalesce(message, status) from audit.load_batches
               where dag_run_id = %s and source = %s and status in ('rejected', 'failed_validation')
               order by batch_id""",
            (run_id, source),
        ).fetchall()
        if not rows and logical_date:
            rows = conn.execute(
                """select file_name, coalesce(message, status) from audit.load_batches
                   where source = %s and logical_date = %s and status in ('rejected', 'failed_validation')
                   order by batch_id""",
                (source, logical_date),
            ).fetchall()
    return rows


def on_task_failure(context, db=None) -> list[Alert]:
    """Airflow ``on_failure_callback``: one alert per held-back file, else one for the failed task.

    An ingest task (``<source>.ingest``) whose batches the ledger shows rejected or failed
    gives ``held_back_batch`` alerts naming each file and its ledger message; any other
    failure gives a ``failed_task`` alert with the task's error. Returns the alerts sent.
    """
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = getattr(ti, "dag_id", "") or getattr(dag_run, "dag_id", "")
    run_id = context.get("run_id") or getattr(dag_run, "run_id", "") or getattr(ti, "run_id", "")
    task_id = getattr(ti, "task_id", "")
    day = _logical_date(context)
    error = context.get("exception")
    problem = f"{type(error).__name__}: {error}" if error is not None else "failed (see the task log)"
    source = task_id.split(".", 1)[0] if task_id.endswith(".ingest") else ""
    alerts = []
    if source:
        try:
            from household_monitoring.config import warehouse

            held = held_back_batches(db or warehouse(), run_id, source, day)
        except Exception as exc:  # the ledger may be what failed
            log.warning("ledger not readable for the alert: %s", exc)
            held = []
        alerts = [Alert("held_back_batch", dag_id, run_id, task_id, day, source, name, msg) for name, msg in held]
    if not alerts:
        alerts = [Alert("failed_task", dag_id, run_id, task_id, day, source, "", problem)]
    for alert in alerts:
        send(alert)
    return alerts


def stale_sources(context, sources: list[str], landing=None) -> list[Alert]:
    """One ``stale_source`` alert per source that sent no file for the run's date; returns them."""
    from household_monitoring.config import landing_dir

    ti = context.get("ti")
    dag_run = context.get("dag_run")
    day = _logical_date(context)
    root = landing or landing_dir()
    alerts = [
        Alert(
            "stale_source",
            getattr(ti, "dag_id", "") or getattr(dag_run, "dag_id", ""),
            context.get("run_id") or getattr(dag_run, "run_id", ""),
            getattr(ti, "task_id", ""),
            day,
            source,
            str(root / source / day),
            f"no file from {source} for {day} (expected in {root / source / day})",
        )
        for source in sources
    ]
    for alert in alerts:
        send(alert)
    return alerts
