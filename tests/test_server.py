"""Managed servers: start/health/stop semantics with a tiny fake server (fast), and the real vLLM server
from the session fixture (its stop() is checked in the fixture's teardown: the whole group must be gone)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.server import (
    ManagedServer,
    _group_alive,
    check_health,
    free_port,
    launch_server,
    stop_server,
)

# A fake server: answers /health, spawns a child in its own process group (like vLLM's engine processes),
# and ignores SIGTERM when told to (to exercise the SIGKILL fallback).
FAKE_SERVER = textwrap.dedent(
    """
    import http.server, os, signal, subprocess, sys
    port, stubborn = int(sys.argv[1]), sys.argv[2] == "1"
    if stubborn:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print("child", child.pid, flush=True)
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
    http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
    """
)


_started: list[ManagedServer] = []


@pytest.fixture(autouse=True)
def _cleanup() -> Iterator[None]:
    """Whatever a failing test leaves running is stopped (by process group) anyway."""
    yield
    while _started:
        _started.pop().stop(grace=1)


def fake_server(tmp_path: Path, stubborn: bool = False, timeout: float = 30) -> ManagedServer:
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    port = free_port()
    cmd = [sys.executable, str(script), str(port), "1" if stubborn else "0"]
    log = tmp_path / "fake.log"
    server = launch_server(cmd, "127.0.0.1", port, "fake", log_path=log, startup_timeout=timeout)
    _started.append(server)
    return server


def child_pid(server: ManagedServer) -> int:
    for _ in range(50):
        for line in server.log_tail().splitlines():
            if line.startswith("child "):
                return int(line.split()[1])
        time.sleep(0.1)
    raise AssertionError("fake server did not report its child")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_launch_health_and_stop_kills_group(tmp_path: Path) -> None:
    server = fake_server(tmp_path)
    child = child_pid(server)
    assert server.healthy() and server.is_alive() and server.startup_s is not None
    assert os.getpgid(server.pid) == server.pid and os.getpgid(child) == server.pid  # own session
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    server.stop()
    assert gone(server.pid) and gone(child) and not _group_alive(server.pid)
    assert not check_health(server.base_url, timeout=0.5)
    server.stop()  # idempotent
    assert stop_server(server.pid) is False


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    server = fake_server(tmp_path, stubborn=True)
    child = child_pid(server)
    t0 = time.monotonic()
    server.stop(grace=1.0)
    assert 1.0 <= time.monotonic() - t0 < 8
    assert gone(server.pid) and gone(child)


def test_stop_by_pid_from_json(tmp_path: Path) -> None:
    server = fake_server(tmp_path)
    state = server.write_json(tmp_path / "state.json")
    again = ManagedServer.read_json(state)
    assert again.pid == server.pid and again.port == server.port and again.base_url == server.base_url
    assert again.to_dict()["base_url"] == server.base_url and again.model == "fake"
    assert stop_server(again.pid) is True
    assert gone(server.pid)
    server.stop()


def test_startup_failure_reports_log_tail(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "import sys; print('boom: no model here'); sys.exit(3)"]
    with pytest.raises(RuntimeError, match="code 3") as info:
        launch_server(cmd, "127.0.0.1", free_port(), "x", log_path=tmp_path / "x.log", startup_timeout=30)
    assert "boom: no model here" in str(info.value)


def test_startup_timeout_stops_the_process(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    cmd = [sys.executable, "-c", f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); "
           "time.sleep(600)"]
    with pytest.raises(TimeoutError, match="not healthy"):
        launch_server(cmd, "127.0.0.1", free_port(), "x", log_path=tmp_path / "x.log", startup_timeout=1.5)
    assert gone(int(marker.read_text()))


def test_serve_main_foreground_stops_on_sigterm(tmp_path: Path) -> None:
    """`serve_main` prints the base_url, keeps serving, and stops the server when told to (SIGTERM/Ctrl-C)."""
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    runner = textwrap.dedent(
        f"""
        import sys
        import backends.server as srv
        def fake_start(model, port=None, **kw):
            port = port or srv.free_port()
            cmd = [sys.executable, {str(script)!r}, str(port), "0"]
            return srv.launch_server(cmd, "127.0.0.1", port, model, log_path={str(tmp_path / "s.log")!r})
        srv.start_vllm_server = fake_start
        sys.exit(srv.serve_main("fake-model", None))
        """
    )
    env = dict(os.environ, CONFCONSOLE_CACHE=str(tmp_path / "cache"))
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", runner], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("serving"):
                break
        text = "".join(lines)
        assert "base_url: http://127.0.0.1:" in text and "model:    fake-model" in text, text
        base_url = text.split("base_url: ")[1].split()[0]
        pid = int(text.split("pid:      ")[1].split()[0])
        _started.append(ManagedServer(pid=pid, port=0, host="127.0.0.1", model="fake"))
        assert check_health(base_url)
        assert list((tmp_path / "cache" / "servers").glob("vllm-*.json"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert gone(pid) and not check_health(base_url, timeout=0.5)
    assert not list((tmp_path / "cache" / "servers").glob("vllm-*.json"))  # state file removed


@pytest.mark.slow
@pytest.mark.vllm
def test_real_vllm_server_is_healthy(vllm_server: ManagedServer) -> None:
    import psutil

    assert vllm_server.healthy() and vllm_server.is_alive()
    assert vllm_server.base_url.endswith("/v1") and vllm_server.model == "smollm2-135m"
    assert vllm_server.startup_s is not None and vllm_server.startup_s > 0
    group = [p for p in psutil.process_iter(["pid"]) if _pgid(p.info["pid"]) == vllm_server.pid]
    assert len(group) >= 2  # API server plus its engine process(es), all in the server's own group
    assert ManagedServer.from_dict(vllm_server.to_dict()).base_url == vllm_server.base_url


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None
