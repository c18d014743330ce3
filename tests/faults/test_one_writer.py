"""One writer per run: a second worker, or `resume`, on a running run is refused naming the holder; a lock left
by a killed worker is recovered; a pipeline's worker holds the step it runs in-process; two TUIs watching one run
through a kill and a resume both stay right."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from experiments import api
from experiments.runs.jobs import ROOT
from experiments.runs.lock import RunLock, RunLocked, live_holders
from experiments.runs.state import load_state
from experiments.runs.store import RunStore, live_pids, proc_start, status_of
from experiments.runs.worker import REFUSED
from experiments.specs import BackendSpec
from experiments.stages.inference.spec import InferenceSpec
from tests.chat_server import ChatServer
from tests.faults.conftest import scripted_inference
from tests.faults.proxy import PASS, Fault, FaultProxy


def wait_until(check, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


class Gate:
    """A proxy in front of the scripted server that holds requests from the `hold_from`th on until `open()`:
    a run that stays running exactly as long as a test needs (no sleeps). The first request gets a 429."""

    def __init__(self, hold_from: int = 1) -> None:
        self.server = ChatServer()
        self.event = threading.Event()
        self.hold_from = hold_from
        self.proxy = FaultProxy(self.server.server.server_address[1], self.script)

    def script(self, n: int, body: dict) -> Fault:
        if n == 1:
            return Fault("status", 429, {"Retry-After": "0"})
        if n >= self.hold_from:
            self.event.wait(60)
        return PASS

    def spec(self, limit: int) -> InferenceSpec:
        spec = scripted_inference(self.server, limit=limit)
        return spec.model_copy(update={"backend": BackendSpec(kind="openai_compat", options={
            **spec.backend.options, "base_url": self.proxy.base_url})})

    def open(self) -> None:
        self.event.set()


@pytest.fixture
def gate():  # noqa: ANN201
    gate = Gate()
    yield gate
    gate.open()
    gate.proxy.close()
    gate.server.close()


def test_a_second_writer_is_refused_and_a_dead_ones_lock_recovered(home: Path, gate: Gate) -> None:
    run_id = api.launch(gate.spec(3), home)
    store = RunStore.open(run_id, home)
    wait_until(lambda: live_holders(store.dir))  # the worker holds slot 0
    [holder] = live_holders(store.dir)
    manifest = store.manifest()
    assert holder.pid == manifest["pids"][0] and holder.start == manifest["pid_starts"][0]

    second = subprocess.run([sys.executable, "-m", "experiments.runs.worker", str(store.dir), "--registry",
                             "experiments.stages:STAGES"], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert second.returncode == REFUSED
    assert f"worker pid {holder.pid}" in second.stderr and "one writer per run" in second.stderr
    with pytest.raises(RunLocked, match=f"worker pid {holder.pid}.*one writer per run.*confconsole cancel"):
        api.resume(run_id, home)
    after = store.manifest()
    assert after["pids"] == manifest["pids"] and after["status"] == "running", "the refused writers wrote nothing"

    os.killpg(holder.pid, signal.SIGKILL)
    wait_until(lambda: store.effective_status() == "interrupted")
    assert (store.dir / ".lock-w0").read_text(), "the dead worker's lock file still names it"
    wait_until(lambda: not live_holders(store.dir), 10)  # ...but the kernel released its lock
    api.resume(run_id, home)
    gate.open()
    assert api.wait(run_id, home, timeout=60) == "done"
    logs = [e.message for e in load_state(store.events_path).logs]
    assert any(f"recovered the lock of a dead writer: worker pid {holder.pid}" in m for m in logs)
    assert (store.dir / ".lock-w0").read_text() == "", "released: names nobody"


def test_slots_same_process_and_no_flock_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with RunLock(tmp_path, 0):
        with pytest.raises(RunLocked, match=f"worker pid {os.getpid()}"):
            RunLock(tmp_path, 0).acquire()  # another open file: refused even in the same process
        with RunLock(tmp_path, 1):  # a data-parallel run: one lock per worker slot
            assert [h.slot for h in live_holders(tmp_path)] == [0, 1]
    assert live_holders(tmp_path) == []

    def no_flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "no locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)  # a mount without flock: pid + start time decide
    parent = os.getppid()  # a live process that is not us: the holder
    (tmp_path / ".lock-w0").write_text(f'{{"pid": {parent}, "start": {proc_start(parent)}, "host": "h", "since": 0}}')
    with pytest.raises(RunLocked, match=f"worker pid {parent}"):
        RunLock(tmp_path, 0).acquire()
    assert [h.pid for h in live_holders(tmp_path)] == [parent]
    dead = tmp_path / ".lock-w2"
    dead.write_text(f'{{"pid": {parent}, "start": {proc_start(parent) - 1}, "host": "h", "since": 0}}')
    assert [h.slot for h in live_holders(tmp_path)] == [0], "a reused pid is not the old holder"
    with RunLock(tmp_path, 2) as lock:
        assert lock.recovered is not None and lock.recovered.host == "h"


def test_a_reused_pid_is_not_a_live_worker() -> None:
    me = os.getpid()
    assert live_pids({"pids": [me], "pid_starts": [proc_start(me)]}) == [me]
    assert live_pids({"pids": [me], "pid_starts": [proc_start(me) - 1]}) == []
    assert status_of({"status": "running", "pids": [me], "pid_starts": [proc_start(me) - 1]}) == "interrupted"


def test_a_pipeline_worker_holds_the_step_it_runs(home: Path, gate: Gate) -> None:
    spec = gate.spec(2).model_copy(update={"then": [{"stage": "grading"}]})
    pipeline = RunStore.open(api.launch(spec, home), home)
    wait_until(lambda: (pipeline.manifest().get("steps") or {}).get("inference", {}).get("status") == "running")
    step = RunStore.open(pipeline.manifest()["steps"]["inference"]["run_id"], home)
    wait_until(lambda: live_holders(step.dir))
    worker = pipeline.manifest()["pids"][0]
    assert [h.pid for h in live_holders(step.dir)] == [worker]
    with pytest.raises(RunLocked, match=f"worker pid {worker}"):
        api.resume(step.run_id, home)
    api.cancel(pipeline.run_id, home)
    assert pipeline.effective_status() == "cancelled"


async def test_two_tuis_watch_one_run_through_a_kill_and_a_resume(home: Path, gate: Gate,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.app import App
    from textual.widgets import ProgressBar, Static

    from tests.tui_fixtures import wait_for
    from tui_app.app import make_app
    from tui_app.screens.run import RunScreen

    gate.hold_from = 3  # the first chunk lands (after a 429), then the run waits at the gate
    run_id = api.launch(gate.spec(4), home)
    store = RunStore.open(run_id, home)
    notes: list[tuple[object, str]] = []
    notify = App.notify
    monkeypatch.setattr(App, "notify", lambda self, message, *args, **kw: (notes.append((self, str(message))),
                                                                          notify(self, message, *args, **kw))[1])
    a, b = (make_app(home, refresh_interval=0, poll_interval=0.05) for _ in range(2))
    async with a.run_test(size=(150, 40)) as pa, b.run_test(size=(150, 40)) as pb:
        screens = []
        for app, pilot in ((a, pa), (b, pb)):
            app.push_screen(RunScreen(store))
            await pilot.pause()
            screens.append(app.screen)

        def header(screen: RunScreen) -> str:
            return str(screen.query_one("#run-info", Static).render())

        await wait_for(pa, lambda: store.done_chunks(), timeout=60)
        os.killpg(live_pids(store.manifest())[0], signal.SIGKILL)
        for screen, pilot in zip(screens, (pa, pb), strict=True):
            await wait_for(pilot, lambda s=screen: "status interrupted" in header(s), timeout=20)
        await pa.press("r")  # the first TUI resumes it...
        await wait_for(pa, lambda: store.effective_status() == "running" and live_holders(store.dir), 30)
        await pb.press("r")  # ...the second one's resume is refused, with the holder named
        await wait_for(pb, lambda: any(app is b and "one writer per run" in m for app, m in notes), 20)
        gate.open()
        for screen, pilot in zip(screens, (pa, pb), strict=True):
            bar = screen.query_one("#progress", ProgressBar)
            await wait_for(pilot, lambda s=screen: "status done" in header(s), timeout=60)
            await wait_for(pilot, lambda b=bar: b.progress == b.total == 4, timeout=10)
            assert "retries 1 (http_429 1)" in header(screen)
        assert header(screens[0]) == header(screens[1])
        assert not any(app is a and "one writer" in m for app, m in notes)
    assert store.manifest()["resumed"] == 1
