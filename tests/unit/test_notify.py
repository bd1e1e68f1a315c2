"""The notification transport against a real SMTP server (aiosmtpd) and a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aiosmtpd.controller import Controller
from support import SmtpInbox

from household_monitoring import notify


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(notify, "BACKOFF_SECONDS", 0.0)


def test_email_in_chinese_reaches_the_server(smtp_server, monkeypatch):
    inbox, port = smtp_server
    monkeypatch.setenv("HM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("HM_SMTP_PORT", str(port))
    monkeypatch.setenv("HM_SMTP_FROM", "监测平台 <monitor@county.example>")

    message_id = notify.send_email(
        "a@village.example; b@village.example", "今日待核实预警 3 条", "户 6531291000019001：因病，红色", "<p>红色</p>"
    )

    assert len(inbox.messages) == 1
    rcpt, message = inbox.messages[0]
    assert rcpt == ["a@village.example", "b@village.example"]
    assert message["Subject"] == "今日待核实预警 3 条"
    assert message["Message-ID"] == message_id
    assert message.get_body(("plain",)).get_content().strip() == "户 6531291000019001：因病，红色"
    assert message.get_body(("html",)).get_content().strip() == "<p>红色</p>"


def test_email_not_configured_or_unreachable_says_so(monkeypatch):
    monkeypatch.delenv("HM_SMTP_HOST", raising=False)
    with pytest.raises(notify.NotificationError, match="HM_SMTP_HOST is not set"):
        notify.send_email("a@x.example", "s", "t")

    port = free_port()  # nothing listens there
    settings = notify.SmtpSettings(host="127.0.0.1", port=port, timeout=2)
    with pytest.raises(notify.NotificationError, match=rf"email to a@x.example via 127.0.0.1:{port} failed after 3"):
        notify.send_email("a@x.example", "s", "t", settings=settings)


def test_smtp_settings_are_checked():
    assert notify.SmtpSettings.from_env({}) is None
    assert notify.SmtpSettings.from_env({"HM_SMTP_HOST": "mail", "HM_SMTP_SECURITY": "ssl"}).port == 465
    with pytest.raises(ValueError, match="HM_SMTP_SECURITY"):
        notify.SmtpSettings.from_env({"HM_SMTP_HOST": "mail", "HM_SMTP_SECURITY": "tls1"})
    with pytest.raises(ValueError, match="HM_SMTP_PORT"):
        notify.SmtpSettings.from_env({"HM_SMTP_HOST": "mail", "HM_SMTP_PORT": "smtp"})


@pytest.fixture
def webhook_server():
    """An HTTP server answering the statuses queued in ``answers`` (200 once they run out)."""
    received: list[tuple[object, bytes]] = []
    answers: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers, body))
            self.send_response(answers.pop(0) if answers else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received, answers
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_posts_signed_utf8_json_and_retries_server_errors(webhook_server):
    url, received, answers = webhook_server
    answers.extend([503, 500])

    status = notify.post_webhook(url, {"村": "阿克萨克马热勒乡", "overdue": 2}, secret="s3cret")

    assert status == 200
    assert len(received) == 3  # two server errors, then delivered
    headers, body = received[-1]
    assert json.loads(body.decode("utf-8")) == {"村": "阿克萨克马热勒乡", "overdue": 2}
    assert headers["X-HM-Signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()


def test_webhook_refusal_fails_at_once(webhook_server):
    url, received, answers = webhook_server
    answers.append(404)
    with pytest.raises(notify.NotificationError, match=rf"webhook {url} failed: HTTPError: HTTP Error 404"):
        notify.post_webhook(url, {"a": 1}, secret="")
    assert len(received) == 1
