"""Status races (issue 7 j): status moves only forward, the unreadable-manifest stand-in is never written back,
events are totally ordered across data-parallel workers, and `cancel` also stops the run's managed server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments import api
from experiments.runs.store import ManifestUnreadable, RunStore, pid_alive, status_may_move
from experiments.stages import STAGES

ROOT = Path(__file__).resolve().parent.parent


def new_store(home: Path) -> RunStore:
    return RunStore.create('stage = "inference"\n', "inference", home)


def test_status_moves_only_forward(home: Path) -> None:
    store = new_store(home)
    store.update_manifest(status="running")
    store.update_manifest(status="failed", error="boom")
    # the launcher's late `running` (written after Popen) lands after a worker that failed fast
    manifest = store.update_manifest(status="running", pids=[123], workers=1)
    assert manifest["status"] == "failed" and manifest["error"] == "boom"
    assert store.manifest()["pids"] == [123], "the other changes still land"
    for late in ("queued", "running", "done", "cancelled"):
        assert store.update_manifest(status=late)["status"] == "failed"
    assert store.update_manifest(reopen=True, status="queued")["status"] == "queued", "an explicit resume"
    assert store.update_manifest(status="running")["status"] == "running"
    assert store.update_manifest(status="queued")["status"] == "running", "never backwards while running"
    assert store.update_manifest(status="done")["status"] == "done"


@pytest.mark.parametrize(("current", "new", "ok"), [
    ("queued", "running", True), ("running", "running", True), ("running", "cancelled", True),
    ("running", "queued", False), ("done", "running", False), ("cancelled", "queued", False),
    ("cancelled", "failed", False), (None, "running", True),
])
def test_status_transition_table(current: str | None, new: str, ok: bool) -> None:
    assert status_may_move(current, new) is ok


def test_unreadable_manifest_is_never_replaced_by_the_stand_in(home: Path) -> None:
    store = new_store(home)
    store.update_manifest(status="running", counts={"records": 7})
    real = store.manifest_path.read_text()
    store.manifest_path.write_text(real[: len(real) // 2])  # e.g. a disk-full partial copy, or hand edited
    assert store.manifest()["status"] == "failed", "readers get a stand-in"
    with pytest.raises(ManifestUnreadable):
        store.update_manifest(status="cancelled")
    assert store.manifest_path.read_text() == real[: len(real) // 2], "nothing written over it"


EMIT_MANY = """
import sys
from pathlib import Path
from experiments.runs.emit import Emitter
from experiments.stages import STAGES
emit = Emitter(Path(sys.argv[1]), "r", int(sys.argv[2]))
for i in range(int(sys.argv[3])):
    emit.log(f"w{sys.argv[2]} {i}")
"""


def test_events_are_totally_ordered_across_two_workers(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", EMIT_MANY, str(path), str(w), "400"], env=env)
             for w in (0, 1)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(events) == 800
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, 801)), "unique, gap-free and in file order"
    for w in (0, 1):  # each worker's own events keep their order
        mine = [int(e["message"].split()[1]) for e in events if e["message"].startswith(f"w{w} ")]
        assert mine == list(range(400))


def sleeper(ignore_term: bool = False) -> subprocess.Popen[bytes]:
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "time.sleep(300)\n"
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


def test_cancel_stops_the_runs_managed_server(home: Path) -> None:
    """A worker stuck stopping its server gets SIGKILLed by `cancel`; the server must not outlive the run."""
    store = new_store(home)
    worker, server = sleeper(ignore_term=True), sleeper()
    try:
        time.sleep(0.3)  # let the worker install its SIGTERM handler
        store.update_manifest(status="running", pids=[worker.pid],
                              server={"pid": server.pid, "base_url": "http://127.0.0.1:1/v1"})
        api.cancel(store.run_id, home, wait=0.5, server_grace=5)
        assert worker.wait(timeout=10) == -signal.SIGKILL
        assert server.wait(timeout=10) == -signal.SIGTERM, "the server got SIGTERM (a clean stop)"
        manifest = store.manifest()
        assert manifest["status"] == "cancelled" and manifest["server"]["stopped"]
    finally:
        for proc in (worker, server):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_cancel_leaves_a_stopped_servers_pid_alone(home: Path) -> None:
    """A pid the run's server had is someone else's once the server stopped: never signal it."""
    store = new_store(home)
    other = sleeper()
    try:
        store.update_manifest(status="running", pids=[], server={"pid": other.pid, "stopped": time.time()})
        api.cancel(store.run_id, home, wait=0.2)
        assert pid_alive(other.pid) and store.manifest()["status"] == "cancelled"
    finally:
        other.kill()
        other.wait()


def test_a_worker_starting_on_a_finished_run_leaves_it_alone(home: Path) -> None:
    """E.g. cancelled while queued: the late worker must neither announce `running` nor compute chunks."""
    from experiments.runs.worker import run_worker
    from experiments.stages.inference.spec import InferenceSpec

    store, _ = api.prepare(InferenceSpec(), home)
    store.update_manifest(status="cancelled")
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert run_worker(store.dir, STAGES, home=home) == 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert store.manifest()["status"] == "cancelled" and store.done_chunks() == []
    events = [json.loads(line) for line in store.events_path.read_text().splitlines()]
    assert not [e for e in events if e["type"] == "status"]


@pytest.mark.parametrize("module", ["experiments.runs.store", "backends.procs"])
def test_a_worker_reaped_between_the_signal_and_proc_reads_dead(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race the fault suite hit: the launcher's reaper thread reaps a killed worker after `kill(pid, 0)` found
    its zombie and before /proc/PID/stat is read. That vanished file must read as dead, not as "unknown: alive"."""
    import importlib

    procs = importlib.import_module(module)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    worker.kill()  # a zombie until waited for
    real_open = open

    def reap_then_open(path: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        worker.wait()
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(procs, "open", reap_then_open, raising=False)
    os.kill(worker.pid, 0)  # the zombie is still there to signal...
    assert not procs.pid_alive(worker.pid)  # ...and is reaped before its /proc file is read


def test_a_worker_reaped_between_its_liveness_and_its_start_time_reads_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    from experiments.runs import store as store_module

    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = store_module.proc_start(worker.pid)
    assert store_module.same_process(worker.pid, start)
    real_open, opened = open, []

    def killed_before_the_second_read(path: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        opened.append(path)
        if len(opened) == 2:  # pid_alive has read the live process; proc_start reads next
            worker.kill()
            worker.wait()
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(store_module, "open", killed_before_the_second_read, raising=False)
    assert not store_module.same_process(worker.pid, start)
