"""A minimal W3C WebDriver client (standard library only) for headless Chromium through chromedriver.

Enough for a user's path through a web page: open a URL, find elements, type, click, run a script,
wait for a condition. ``Browser.start()`` launches ``chromedriver`` (Debian package ``chromium-driver``)
on a free loopback port with ``/usr/bin/chromium`` headless and a fresh profile; ``close()`` ends the
session and the driver. Errors: ``WebDriverError`` with the command and the driver's message.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM = "/usr/bin/chromium"
#: Flags that work on these machines (root, no GPU, no network beyond loopback).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1600,2400",
]


class WebDriverError(RuntimeError):
    """A WebDriver command failed: the message has the command, the HTTP status and the driver's error."""


def find_browser() -> tuple[str, str] | None:
    """``(chromium, chromedriver)`` paths when both are installed, else ``None``."""
    chromium = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One headless Chromium session driven over WebDriver."""

    def __init__(self, driver: subprocess.Popen, base: str, session: str, profile: Path) -> None:
        self._driver, self._base, self._session, self._profile = driver, base, session, profile

    @classmethod
    def start(cls, chromium: str, chromedriver: str, timeout: float = 30) -> Browser:
        port = _free_port()
        driver = subprocess.Popen(
            [chromedriver, f"--port={port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                if _request("GET", f"{base}/status")["value"]["ready"]:
                    break
            except (OSError, WebDriverError):
                pass
            if time.monotonic() > deadline or driver.poll() is not None:
                driver.kill()
                raise WebDriverError(f"chromedriver did not become ready on {base}")
            time.sleep(0.2)
        profile = Path(tempfile.mkdtemp(prefix="hm-chromium-"))
        options = {"binary": chromium, "args": [*CHROMIUM_ARGS, f"--user-data-dir={profile}"]}
        capabilities = {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}
        try:
            session = _request("POST", f"{base}/session", {"capabilities": capabilities})["value"]["sessionId"]
        except Exception:
            driver.kill()
            shutil.rmtree(profile, ignore_errors=True)
            raise
        return cls(driver, base, session, profile)

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        return _request(method, f"{self._base}/session/{self._session}{path}", body)["value"]

    def get(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return self._call("GET", "/url")

    def find(self, css: str) -> str:
        """The first element matching ``css`` (its WebDriver id); ``WebDriverError`` when there is none."""
        return self._call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT_KEY]

    def type(self, css: str, text: str) -> None:
        self._call("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self._call("POST", f"/element/{self.find(css)}/click", {})

    def script(self, source: str, *args: Any) -> Any:
        """Run ``source`` (a function body; ``arguments[i]`` are ``args``) in the page; its return value."""
        return self._call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def wait_for(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """Poll ``condition`` until it returns something truthy; ``TimeoutError`` naming ``what`` otherwise."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = condition()
            except WebDriverError as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(0.5)
        raise TimeoutError(f"waited {timeout:.0f} s for {what}; last: {last!r}")

    def close(self) -> None:
        with contextlib.suppress(OSError, WebDriverError):
            _request("DELETE", f"{self._base}/session/{self._session}")
        self._driver.terminate()
        try:
            self._driver.wait(10)
        except subprocess.TimeoutExpired:
            self._driver.kill()
        shutil.rmtree(self._profile, ignore_errors=True)


def _request(method: str, url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise WebDriverError(f"{method} {url}: HTTP {exc.code}: {detail}") from exc
