"""`confconsole web` in a real browser: headless Chromium (Debian's package) opens the served console, and the
Runs screen's text and a screenshot are checked.

How the text is read: xterm.js draws on a canvas, so the page's DOM holds no terminal text. A script installed
before the page loads (CDP `Page.addScriptToEvaluateOnNewDocument`) wraps `WebSocket` and keeps every frame the
console process sends; with the escape sequences removed, the Runs screen's column headers and run ids must be
there. The screenshot (CDP `Page.captureScreenshot`) must be a PNG of the page with the terminal drawn (many
colours, not a blank page). Everything is local: the server on 127.0.0.1, Chromium with networking features off.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.tui_fixtures import make_home

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1400,900"]
CAPTURE = """
(() => {
  const Native = window.WebSocket;
  window.__frames = [];
  const keep = (data) => {
    if (typeof data === "string") window.__frames.push(data);
    else if (data instanceof ArrayBuffer) window.__frames.push(new TextDecoder().decode(data));
    else if (data instanceof Blob) data.arrayBuffer().then((b) => window.__frames.push(new TextDecoder().decode(b)));
  };
  function Capturing(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener("message", (event) => keep(event.data));
    return ws;
  }
  Capturing.prototype = Native.prototype;
  Object.assign(Capturing, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Capturing;
})();
"""
ESCAPES = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-_]")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install "
                                "chromium); CI installs it")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    home = make_home(tmp_path / "home")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC"}
    proc = subprocess.Popen([sys.executable, "-m", "tui_app.entry", "--home", str(home), "web", "--port",
                             str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_until(lambda: listening(port) or proc.poll() is not None, 30, "the web server")
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(proc)


class Page:
    """The one page of a headless Chromium, driven over the DevTools protocol (a websocket)."""

    def __init__(self, profile: Path) -> None:
        from websockets.sync.client import connect

        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        active = profile / "DevToolsActivePort"
        wait_until(lambda: active.exists() and active.read_text().strip(), 30, "chromium's debugging port")
        port = active.read_text().split()[0]
        targets = wait_until(lambda: self._pages(port), 30, "a page target")
        self._connection = connect(targets[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        self.ws = self._connection.__enter__()
        self.next_id = 0

    @staticmethod
    def _pages(port: str) -> list[dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=5) as response:
                return [t for t in json.loads(response.read()) if t.get("type") == "page"]
        except OSError:
            return []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message.get("result", {})

    def text(self) -> str:
        value = self.call("Runtime.evaluate", expression="(window.__frames || []).join('')", returnByValue=True)
        return ESCAPES.sub("", value["result"].get("value", ""))

    def close(self) -> None:
        self._connection.__exit__(None, None, None)
        stop(self.proc)


@pytest.mark.timeout(90)
def test_the_browser_shows_the_runs_screen(served: str, tmp_path: Path) -> None:
    page = Page(tmp_path / "chromium-profile")
    try:
        page.call("Page.enable")
        page.call("Page.addScriptToEvaluateOnNewDocument", source=CAPTURE)
        page.call("Page.navigate", url=served)
        wanted = ("inference-20260528-202640-aaaa", "grading-20260528-202940-dddd", "stage", "status", "progress")
        wait_until(lambda: all(w in page.text() for w in wanted), 40, f"the Runs screen ({', '.join(wanted)})")
        time.sleep(0.5)  # the last frames reach the canvas
        shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    finally:
        page.close()
    (tmp_path / "web.png").write_bytes(shot)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.size[0] >= 1000
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 20, "the screenshot is blank: the terminal was not drawn"
    if os.environ.get("CONFCONSOLE_KEEP_SCREENSHOT"):
        Path(os.environ["CONFCONSOLE_KEEP_SCREENSHOT"]).write_bytes(shot)
