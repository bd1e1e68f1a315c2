"""Sending notifications out of the warehouse: email over SMTP and JSON webhooks.

One transport for everything the pipeline tells people: the data engineer's alerts
(failed task, held-back batch, stale source) and the officials' daily work lists.
It knows nothing of what it sends; callers build the subject, the text and the
payload. Nothing sent may carry a resident ID or a resident's name (DESIGN.md,
"Who is told"): callers pass household numbers, villages, factors and dates only.

Configuration, all from the environment (never from the repository):

========================  ==================================================  =========
variable                  meaning                                             default
========================  ==================================================  =========
``HM_SMTP_HOST``          SMTP server; unset = email is not configured        (unset)
``HM_SMTP_PORT``          port                                                25 (465 with SSL)
``HM_SMTP_SECURITY``      ``none``, ``starttls`` or ``ssl``                   ``none``
``HM_SMTP_USER``          login (with ``HM_SMTP_PASSWORD``); unset = no login (unset)
``HM_SMTP_FROM``          sender address                                      ``household-monitoring@localhost``
``HM_SMTP_TIMEOUT``       seconds per connection attempt                      10
``HM_WEBHOOK_SECRET``     when set, each webhook body is signed: header       (unset)
                          ``X-HM-Signature: sha256=<hex HMAC of the body>``
``HM_WEBHOOK_TIMEOUT``    seconds per webhook attempt                         10
========================  ==================================================  =========

Delivery is attempted up to three times (1 s, then 2 s apart) for a connection
failure or a server-side error (SMTP 4xx, HTTP 5xx or 429); a permanent refusal
(SMTP 5xx, HTTP 4xx) raises at once. Failures raise ``NotificationError`` naming
the channel, the destination and the cause.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

ATTEMPTS = 3
BACKOFF_SECONDS = 1.0


class NotificationError(RuntimeError):
    """A notification could not be delivered; the message names channel, destination and cause."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how email is sent (see the module's table of ``HM_SMTP_*`` variables)."""

    host: str
    port: int
    security: str = "none"
    user: str = ""
    password: str = ""
    sender: str = "household-monitoring@localhost"
    timeout: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings | None:
        """The settings named by ``HM_SMTP_*``, or ``None`` when ``HM_SMTP_HOST`` is unset.

        Raises ``ValueError`` for an unknown ``HM_SMTP_SECURITY`` or a port that is not a number.
        """
        env = os.environ if environ is None else environ
        host = env.get("HM_SMTP_HOST", "").strip()
        if not host:
            return None
        security = (env.get("HM_SMTP_SECURITY") or "none").strip().lower()
        if security not in ("none", "starttls", "ssl"):
            raise ValueError(f"HM_SMTP_SECURITY must be none, starttls or ssl, got {security!r}")
        port_text = (env.get("HM_SMTP_PORT") or ("465" if security == "ssl" else "25")).strip()
        if not port_text.isdigit():
            raise ValueError(f"HM_SMTP_PORT must be a port number, got {port_text!r}")
        return cls(
            host=host,
            port=int(port_text),
            security=security,
            user=env.get("HM_SMTP_USER", ""),
            password=env.get("HM_SMTP_PASSWORD", ""),
            sender=env.get("HM_SMTP_FROM") or cls.sender,
            timeout=float(env.get("HM_SMTP_TIMEOUT") or 10),
        )


def recipients(value: str | Sequence[str] | None) -> list[str]:
    """Addresses from a comma- or semicolon-separated string (or a list), blanks dropped."""
    if not value:
        return []
    items = value.replace(";", ",").split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item and item.strip()]


def build_email(sender: str, to: Sequence[str], subject: str, text: str, html: str | None = None) -> EmailMessage:
    """A UTF-8 email (plain text, plus an HTML alternative when given) ready for ``send_email``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="household-monitoring")
    message.set_content(text, charset="utf-8")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8")
    return message


def send_email(
    to: str | Sequence[str],
    subject: str,
    text: str,
    html: str | None = None,
    settings: SmtpSettings | None = None,
) -> str:
    """Send one email to ``to``; returns its Message-ID.

    ``settings`` default to ``SmtpSettings.from_env()``. Raises ``NotificationError`` when
    email is not configured, there is no recipient, or delivery fails after the retries
    (the message names server, recipients and the SMTP error).
    """
    settings = settings or SmtpSettings.from_env()
    addresses = recipients(to)
    if settings is None:
        raise NotificationError("email: HM_SMTP_HOST is not set, so no email can be sent")
    if not addresses:
        raise NotificationError(f"email {subject!r}: no recipient")
    message = build_email(settings.sender, addresses, subject, text, html)
    where = f"email to {', '.join(addresses)} via {settings.host}:{settings.port}"

    def attempt() -> None:
        if settings.security == "ssl":
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            if settings.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.login(settings.user, settings.password)
            refused = client.send_message(message)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    def transient(error: Exception) -> bool:
        if isinstance(error, smtplib.SMTPResponseException):
            return 400 <= error.smtp_code < 500
        return isinstance(error, OSError | smtplib.SMTPServerDisconnected)

    _with_retries(attempt, transient, where)
    return message["Message-ID"]


def post_webhook(url: str, payload: Mapping, secret: str | None = None, timeout: float | None = None) -> int:
    """POST ``payload`` as JSON (UTF-8, non-ASCII kept) to ``url``; returns the HTTP status.

    Signed with ``secret`` (default ``HM_WEBHOOK_SECRET``) as ``X-HM-Signature:
    sha256=<hex>`` when one is set. Raises ``NotificationError`` on a 4xx answer, or on
    a 5xx/429 answer or connection failure after the retries.
    """
    if not url:
        raise NotificationError("webhook: no URL given")
    body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "household-monitoring"}
    secret = os.environ.get("HM_WEBHOOK_SECRET") if secret is None else secret
    if secret:
        digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        headers["X-HM-Signature"] = f"sha256={digest}"
    timeout = timeout if timeout is not None else float(os.environ.get("HM_WEBHOOK_TIMEOUT") or 10)
    status: list[int] = []

    def attempt() -> None:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status.append(response.status)

    def transient(error: Exception) -> bool:
        if isinstance(error, urllib.error.HTTPError):
            return error.code >= 500 or error.code == 429
        return isinstance(error, OSError)

    _with_retries(attempt, transient, f"webhook {url}")
    return status[-1]


def _with_retries(attempt, transient, where: str) -> None:
    """Run ``attempt`` up to ``ATTEMPTS`` times while its error is ``transient``; else raise ``NotificationError``."""
    for number in range(1, ATTEMPTS + 1):
        try:
            attempt()
            return
        except Exception as error:
            if number == ATTEMPTS or not transient(error):
                tries = f" after {number} attempts" if number > 1 else ""
                raise NotificationError(f"{where} failed{tries}: {type(error).__name__}: {error}") from error
            time.sleep(BACKOFF_SECONDS * number)
