"""Write the day's work lists as pages and send them, each at most once per date and channel.

Pages: ``<reports>/worklists/<YYYY-MM-DD>/<official_id>.html`` and an ``index.html`` of
the day's lists (``config.reports_dir()``, default ``var/reports``); a re-run rewrites the
date's folder.

Channels (``household_monitoring.notify``, configured from the environment):

- ``email`` to the official's address in the roster, when ``HM_SMTP_HOST`` is set;
- ``webhook``: one POST per list to ``HM_WORKLIST_WEBHOOK_URL`` when set (e.g. the
  county's messaging gateway), JSON from ``lists.render_payload``, signed with
  ``HM_WEBHOOK_SECRET`` when set.

Every delivery is recorded in ``audit.notifications_sent`` (date, official, channel,
destination, items, SHA-256 of the content, Message-ID or HTTP status) right after it
succeeds; a re-run of the date skips what is recorded, so a retry after a failure sends
only what was not delivered. Delivery is at least once: a crash between a send and its
record (one short transaction) would send that one list again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from household_monitoring.config import Database, reports_dir

log = logging.getLogger(__name__)

WEBHOOK_URL_VARIABLE = "HM_WORKLIST_WEBHOOK_URL"


@dataclass
class Published:
    """What ``publish_worklists`` did: pages written, deliveries sent and skipped (already sent)."""

    logical_date: str
    folder: str
    lists: int = 0
    items: int = 0
    sent: list[str] = field(default_factory=list)
    already_sent: list[str] = field(default_factory=list)
    not_configured: list[str] = field(default_factory=list)
    unassigned_duties: int = 0


def _index_html(day: date, worklists, t) -> str:
    import html

    from household_monitoring.report import STYLE
    from household_monitoring.worklists.lists import ROLE_NAMES

    _ = t.gettext
    rows = "".join(
        f'<tr data-official="{html.escape(w.official_id)}"><td><a href="{html.escape(w.official_id)}.html">'
        f"{html.escape(w.official_id)}</a></td><td>{html.escape(_(ROLE_NAMES[w.role]))}</td>"
        f"<td>{html.escape(w.area_name)}</td>"
        + "".join(f'<td data-count="{n}">{n}</td>' for n in w.counts().values())
        + "</tr>"
        for w in worklists
    )
    head = "".join(
        f"<th>{html.escape(h)}</th>"
        for h in (_("official"), _("role"), _("area"), _("New today"), _("Due"), _("Overdue"))
    )
    title = _("Work lists of {day}").format(day=t.format_date(day))
    return (
        f'<!DOCTYPE html>\n<html lang="{t.html_lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f'<table id="table-worklists"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></body></html>\n'
    )


def _already_sent(conn, day: date) -> set[tuple[str, str]]:
    rows = conn.execute(
        "select official_id, channel from audit.notifications_sent where logical_date = %s", (day,)
    ).fetchall()
    return {(official, channel) for official, channel in rows}


def _record(conn, day: date, official_id: str, channel: str, destination: str, items: int, digest: str, ref) -> None:
    with conn.transaction():
        conn.execute(
            """insert into audit.notifications_sent
                   (logical_date, official_id, channel, destination, items, content_sha256, reference)
               values (%s, %s, %s, %s, %s, %s, %s)""",
            (day, official_id, channel, destination, items, digest, str(ref)),
        )


def publish_worklists(logical_date: date, db: Database, root: Path | None = None, language: str | None = None):
    """Write and send the work lists of ``logical_date``; returns a ``Published``.

    Run after ``build_marts`` for the same date. Raises ``WorklistError`` when the marts
    describe another date, and ``notify.NotificationError`` listing every delivery that
    failed (after trying all the others, which are recorded as sent).
    """
    from household_monitoring.database import connect
    from household_monitoring.i18n import translator
    from household_monitoring.notify import NotificationError, SmtpSettings, post_webhook, send_email
    from household_monitoring.worklists.lists import (
        collect_worklists,
        render_html,
        render_payload,
        render_text,
        subject,
        unassigned_duties,
    )

    t = translator(language)
    folder = (root or reports_dir()) / "worklists" / logical_date.isoformat()
    with connect(db, autocommit=True) as conn:
        worklists = collect_worklists(conn, logical_date)
        result = Published(logical_date.isoformat(), str(folder), lists=len(worklists))
        result.items = sum(len(w.items) for w in worklists)
        result.unassigned_duties = unassigned_duties(conn, logical_date)
        if result.unassigned_duties:
            log.warning(
                "%s: %d duties on vacant posts of counties with no county officer are on no work list",
                logical_date,
                result.unassigned_duties,
            )
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for worklist in worklists:
            (folder / f"{worklist.official_id}.html").write_text(render_html(worklist, t), encoding="utf-8")
        (folder / "index.html").write_text(_index_html(logical_date, worklists, t), encoding="utf-8")

        smtp = SmtpSettings.from_env()
        webhook_url = os.environ.get(WEBHOOK_URL_VARIABLE, "").strip()
        done = _already_sent(conn, logical_date)
        failures: list[str] = []
        for worklist in worklists:
            text = render_text(worklist, t)
            channels = [("email", worklist.email)] if worklist.email else []
            channels.append(("webhook", webhook_url))
            for channel, destination in channels:
                key = f"{worklist.official_id}/{channel}"
                if (worklist.official_id, channel) in done:
                    result.already_sent.append(key)
                    continue
                if not destination or (channel == "email" and smtp is None):
                    result.not_configured.append(key)
                    continue
                try:
                    if channel == "email":
                        page = (folder / f"{worklist.official_id}.html").read_text(encoding="utf-8")
                        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
                        ref = send_email(destination, subject(worklist, t), text, page, settings=smtp)
                    else:
                        payload = render_payload(worklist, t)
                        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
                        digest = hashlib.sha256(body).hexdigest()
                        ref = post_webhook(destination, payload)
                except NotificationError as error:
                    failures.append(f"{key}: {error}")
                    continue
                _record(
                    conn, logical_date, worklist.official_id, channel, destination, len(worklist.items), digest, ref
                )
                result.sent.append(key)
    if result.not_configured:
        log.info("%s: not sent, channel not configured: %s", logical_date, ", ".join(result.not_configured))
    log.info(
        "work lists of %s: %d lists, %d items, sent %d, already sent %d, pages in %s",
        logical_date,
        result.lists,
        result.items,
        len(result.sent),
        len(result.already_sent),
        folder,
    )
    if failures:
        raise NotificationError(f"{len(failures)} work list deliveries failed: " + "; ".join(failures))
    return result
