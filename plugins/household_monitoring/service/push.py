"""A department's push: a message on NATS JetStream that makes Airflow load that file now.

A department writes its file into the landing zone as usual
(``<landing>/<source>/<YYYY-MM-DD>/<file>``), then publishes one message on the subject
``<prefix>.<source>`` (default ``hm.push.<source>``) of the JetStream stream ``HM_PUSHES``::

    {"source": "medical_settlements", "logical_date": "2024-07-17", "file": "settlements.csv"}

(``hm push SOURCE DATE FILE`` does it). JetStream keeps every message until a durable
consumer acknowledges it, so a burst is never lost (Redis pub/sub kept 1 message of a
burst of 5, measured: messages published while the trigger re-arms are dropped). The
trigger ``NatsPushTrigger`` (an Airflow ``BaseEventTrigger`` behind an ``AssetWatcher``)
fetches one message at a time and acknowledges it once its event is handed to the
triggerer: delivery is at least once, and ``load_pushed_file`` is idempotent (a file
already published with the same SHA-256 for that source and date is not loaded again).

Configuration: ``HM_NATS_URL`` (default ``nats://127.0.0.1:4222``), ``HM_NATS_STREAM``
(default ``HM_PUSHES``), ``HM_NATS_SUBJECT_PREFIX`` (default ``hm.push``). Without a NATS
server the trigger retries every 30 s and logs why; the nightly schedule is unaffected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

log = logging.getLogger(__name__)

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_STREAM = "HM_PUSHES"
DEFAULT_PREFIX = "hm.push"
RECONNECT_SECONDS = 30


def nats_settings() -> tuple[str, str, str]:
    """``(url, stream, subject prefix)`` from ``HM_NATS_URL``, ``HM_NATS_STREAM``, ``HM_NATS_SUBJECT_PREFIX``."""
    return (
        os.environ.get("HM_NATS_URL") or DEFAULT_URL,
        os.environ.get("HM_NATS_STREAM") or DEFAULT_STREAM,
        os.environ.get("HM_NATS_SUBJECT_PREFIX") or DEFAULT_PREFIX,
    )


@dataclass(frozen=True)
class Push:
    """One push: ``source`` (a contract name), ``logical_date`` (the extract's day), ``file`` (its name)."""

    source: str
    logical_date: date
    file: str

    @classmethod
    def from_payload(cls, payload: dict) -> Push:
        """Parse a message's JSON object; raises ``ValueError`` naming a missing or bad field."""
        try:
            return cls(str(payload["source"]), date.fromisoformat(str(payload["logical_date"])), str(payload["file"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"push message {payload!r} is not {{source, logical_date, file}}: {exc}") from None

    def payload(self) -> dict:
        return {"source": self.source, "logical_date": self.logical_date.isoformat(), "file": self.file}


async def _ensure_stream(js, stream: str, prefix: str) -> None:
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])


async def publish_async(pushes: list[Push], url: str | None = None, stream: str | None = None) -> None:
    """Publish ``pushes`` to JetStream (creating the stream when missing); each is acknowledged by the server."""
    import nats

    default_url, default_stream, prefix = nats_settings()
    client = await nats.connect(url or default_url, connect_timeout=5, max_reconnect_attempts=1)
    try:
        js = client.jetstream()
        await _ensure_stream(js, stream or default_stream, prefix)
        for push in pushes:
            await js.publish(f"{prefix}.{push.source}", json.dumps(push.payload()).encode("utf-8"))
    finally:
        await client.close()


def run_sync(coroutine):
    """Run ``coroutine`` to completion from synchronous code and return its result (or raise its error).

    ``asyncio.run`` refuses to start while an event loop already runs in the calling thread (a Jupyter
    kernel, Playwright's sync API, an Airflow task started from async code); the coroutine then runs in
    its own event loop on a short-lived thread, which this call waits for."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name="hm-push-publish")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def publish(pushes: list[Push], url: str | None = None, stream: str | None = None) -> None:
    """Synchronous ``publish_async`` (``run_sync``: also from a thread where an event loop runs).
    Raises ``nats`` errors when the server does not answer."""
    run_sync(publish_async(pushes, url, stream))


class NatsPushTrigger(BaseEventTrigger):
    """Fires one ``TriggerEvent(payload)`` per JetStream message of a durable pull consumer.

    ``url``, ``stream``, ``subject`` (e.g. ``hm.push.>``) and ``durable`` (the consumer's
    name: its position survives restarts). The message is acknowledged after its event is
    handed to Airflow, so a crash in between redelivers it (at least once).
    """

    def __init__(self, url: str, stream: str, subject: str, durable: str):
        super().__init__()
        self.url = url
        self.stream = stream
        self.subject = subject
        self.durable = durable

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "household_monitoring.service.push.NatsPushTrigger",
            {"url": self.url, "stream": self.stream, "subject": self.subject, "durable": self.durable},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import nats

        prefix = self.subject.rsplit(".", 1)[0]
        while True:
            try:
                client = await nats.connect(self.url, connect_timeout=5, max_reconnect_attempts=3)
            except Exception as exc:  # no server: keep trying, the nightly schedule does not depend on it
                log.warning("NATS %s unreachable (%s); retrying in %d s", self.url, exc, RECONNECT_SECONDS)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            try:
                js = client.jetstream()
                await _ensure_stream(js, self.stream, prefix)
                subscription = await js.pull_subscribe(self.subject, durable=self.durable, stream=self.stream)
                while True:
                    try:
                        messages = await subscription.fetch(1, timeout=5)
                    except nats.errors.TimeoutError:
                        continue
                    for message in messages:
                        try:
                            payload = json.loads(message.data)
                        except ValueError:
                            log.error("dropping a push that is not JSON: %r", message.data[:200])
                            await message.ack()
                            continue
                        try:
                            yield TriggerEvent(payload)
                        finally:  # runs also when the triggerer closes the trigger after the event
                            await message.ack()
                        return
            finally:
                await client.close()


def load_pushed_file(push: Push, db, dag_run_id: str | None = None, landing=None) -> dict:
    """Load and validate the pushed file, once: idempotent under redelivery.

    Returns ``{"source", "logical_date", "file", "status", "batch_id", "rows_read",
    "rows_loaded", "rows_quarantined"}``; status ``already_loaded`` when a batch of the
    same file name and SHA-256 for that source and date is already published. Raises
    ``FileNotFoundError`` when the file is not in the landing zone, ``KeyError`` for an
    unknown source and ``pipeline.SourceFailed`` when the batch was rejected or failed
    the quality gate (the message names file and problem).
    """
    from household_monitoring.config import landing_dir
    from household_monitoring.contracts import load_contracts
    from household_monitoring.database import connect
    from household_monitoring.loading import file_sha256, load_file
    from household_monitoring.pipeline import SourceFailed
    from household_monitoring.quality import validate_batch

    contracts = load_contracts()
    if push.source not in contracts:
        raise KeyError(f"push for unknown source {push.source!r} (contracts: {', '.join(sorted(contracts))})")
    contract = contracts[push.source]
    path = (landing or landing_dir()) / push.source / push.logical_date.isoformat() / push.file
    if not path.is_file():
        raise FileNotFoundError(f"pushed file {path} is not in the landing zone")
    file_hash, _ = file_sha256(path)
    result = {"source": push.source, "logical_date": push.logical_date.isoformat(), "file": push.file}
    # One loader per file at a time, across workers and DAGs: a session lock held until the end.
    with connect(db, autocommit=True) as lock, connect(db) as conn:
        lock.execute("select pg_advisory_lock(hashtext(%s))", (f"hm-load:{path}",))
        done = conn.execute(
            """select batch_id, rows_read, rows_loaded, rows_quarantined from audit.load_batches
               where source = %s and logical_date = %s and file_name = %s and file_hash = %s
                 and status = 'published' order by batch_id desc limit 1""",
            (push.source, push.logical_date, push.file, file_hash),
        ).fetchone()
        conn.commit()
        if done:
            return {**result, "status": "already_loaded", "batch_id": done[0], "rows_read": done[1],
                    "rows_loaded": done[2], "rows_quarantined": done[3]}  # fmt: skip
        loaded = load_file(conn, contract, path, push.logical_date, dag_run_id=dag_run_id)
        gate = validate_batch(conn, db, contract, loaded.batch_id)
    if gate.status != "published":
        raise SourceFailed(gate.message or f"{push.source}/{push.file}: {gate.status}")
    return {
        **result,
        "status": "published",
        "batch_id": loaded.batch_id,
        "rows_read": loaded.rows_read,
        "rows_loaded": loaded.rows_loaded,
        "rows_quarantined": loaded.rows_quarantined,
    }


def marts_as_of(db) -> date | None:
    """The date the marts describe (``marts.fct_risk_warnings.as_of_date``), or ``None`` before any build."""
    from household_monitoring.database import connect

    with connect(db) as conn:
        if conn.execute("select to_regclass('marts.fct_risk_warnings')").fetchone()[0] is None:
            return None
        return conn.execute("select max(as_of_date) from marts.fct_risk_warnings").fetchone()[0]
