"""The worker process layer: launch, cancel and resume runs as detached worker processes.

`launch(spec, home, registry)` creates the run folder and starts `python -m experiments.runs.worker <run_dir>` in
its own session, so the run outlives the TUI or CLI that started it. Data parallel: one worker per GPU group,
`CUDA_VISIBLE_DEVICES` set in the child's environment before anything imports CUDA; chunk i goes to worker i % N.
The stage registry is handed in by the caller and passed to the worker by its import path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from experiments.runs import locations
from experiments.runs.lock import LaunchLock, RunLocked, live_holders, locked_message
from experiments.runs.registry import Registry
from experiments.runs.store import RunStore, live_pids, pid_alive, proc_start, same_process
from experiments.specs import BaseSpec, spec_to_toml

ROOT = Path(__file__).resolve().parents[2]  # the folder holding `experiments`: the worker's import root


def worker_groups(spec: Any) -> list[dict[str, str]]:
    """Environment overrides per worker: GPU groups from `gpus` x `tensor_parallel`, else N CPU workers."""
    if getattr(spec, "ray_address", None):
        return [{}]  # one driver process; the engines are Ray actors
    gpus: list[int] = list(getattr(spec, "gpus", []) or [])
    if gpus:
        tp = max(1, int(getattr(spec, "tensor_parallel", 1) or 1))
        groups = [gpus[i:i + tp] for i in range(0, len(gpus) - len(gpus) % tp, tp)]
        return [{"CUDA_VISIBLE_DEVICES": ",".join(map(str, g))} for g in groups]
    return [{} for _ in range(max(1, int(getattr(spec, "data_parallel", 1) or 1)))]


def check_layout(spec: Any) -> str | None:
    """Refuse GPU layouts that would start no worker; return a warning naming the GPUs a layout leaves unused."""
    gpus: list[int] = list(getattr(spec, "gpus", []) or [])
    tp = max(1, int(getattr(spec, "tensor_parallel", 1) or 1))
    if not gpus:
        return None
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"gpus lists a GPU twice: {gpus}")
    if len(gpus) < tp:
        raise ValueError(f"tensor_parallel = {tp} needs at least {tp} GPUs per engine, but gpus = {gpus} has "
                         f"{len(gpus)}: list more GPUs or lower tensor_parallel")
    if len(gpus) % tp:
        unused = gpus[len(gpus) - len(gpus) % tp:]
        return f"gpus = {gpus} with tensor_parallel = {tp}: GPU(s) {unused} left unused"
    return None


def start_workers(store: RunStore, spec: Any, home: Path | None, registry: Registry) -> list[int]:
    groups = worker_groups(spec)
    pids = []
    for index, env_extra in enumerate(groups):
        env = {**os.environ, **env_extra, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        cmd = [sys.executable, "-m", "experiments.runs.worker", str(store.dir), "--registry", registry.path,
               "--worker", str(index), "--workers", str(len(groups))]
        if home is not None:
            cmd += ["--home", str(home)]
        log = os.fdopen(os.open(store.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True, cwd=str(store.dir), umask=0o077)  # files user-only
        log.close()
        threading.Thread(target=proc.wait, daemon=True).start()  # reap it if we outlive it (no zombies)
        pids.append(proc.pid)
    # with each pid its start time: a pid the system later reuses is not mistaken for a live worker
    store.update_manifest(status="running", pids=pids, pid_starts=[proc_start(p) for p in pids], workers=len(groups))
    return pids


def launch(spec: BaseSpec | dict[str, Any], home: str | os.PathLike[str] | None, registry: Registry,
           extra: dict[str, Any] | None = None) -> str:
    """Create a run for `spec` and start its worker(s). Returns the run id. A spec with `then` is launched as the
    pipeline it stands for (`pipeline.pipeline_from_chain`)."""
    store, spec = prepare(spec, home, registry, extra)
    start_workers(store, spec, locations.home(home), registry)
    return store.run_id


def prepare(spec: BaseSpec | dict[str, Any], home: str | os.PathLike[str] | None, registry: Registry,
            extra: dict[str, Any] | None = None) -> tuple[RunStore, BaseSpec]:
    """Validate `spec` (a pipeline's every step, the GPU layout) and create its run, `queued`, with no worker."""
    from experiments.runs.pipeline import pipeline_from_chain

    data = spec if isinstance(spec, dict) else spec.model_dump(mode="json")
    if data.get("then") and data.get("stage") != "pipeline":
        spec = pipeline_from_chain(dict(data))
    spec = registry.parse(spec)
    layout_warning = check_layout(spec)
    home_path = locations.home(home)
    manifest_extra = {"title": spec.title, "group": spec.group, **(extra or {})}
    if layout_warning:
        manifest_extra["layout_warning"] = layout_warning
    input_run = getattr(spec, "input_run", "")
    if input_run and "inputs" not in manifest_extra:
        manifest_extra["inputs"] = [RunStore.open(input_run, home_path).run_id]
    return RunStore.create(spec_to_toml(spec), spec.stage, home_path, extra=manifest_extra), spec


def cancel(run: str, home: str | os.PathLike[str] | None = None, wait: float = 10.0,
           server_grace: float = 15.0) -> str:
    """SIGTERM the run's workers (the chunk in flight is dropped); SIGKILL after `wait` seconds. Then stop the
    run's managed vLLM server if it is still up: a worker killed while stopping it would leave it running. A
    pipeline's unfinished steps are cancelled with it."""
    store = RunStore.open(run, home)
    cancel_store(store, wait, server_grace)
    for info in (store.manifest().get("steps") or {}).values():
        if info.get("run_id") and info.get("status") in ("running", "queued"):
            try:
                cancel_store(RunStore.open(info["run_id"], home), wait, server_grace)
            except FileNotFoundError:
                continue
    return store.run_id


def cancel_store(store: RunStore, wait: float = 10.0, server_grace: float = 15.0) -> None:
    terminate(live_pids(store.manifest()), wait)
    server = store.manifest().get("server") or {}
    if server.get("pid") and not server.get("stopped") and pid_alive(server["pid"]):
        terminate([int(server["pid"])], server_grace)
        store.update_manifest(server={"stopped": time.time()})
    if store.manifest().get("status") in ("running", "queued"):
        store.update_manifest(status="cancelled")


def terminate(pids: list[int], grace: float) -> None:
    """SIGTERM each process group, SIGKILL whatever is still alive after `grace` seconds."""
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if pid_alive(pid):
            _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def resume(run: str, home: str | os.PathLike[str] | None, registry: Registry, force: bool = False) -> str:
    """Restart a run's workers on its folder: done chunks are skipped (`force` clears them first). A pipeline
    resumes at its first unfinished step (`force`: every step is made again, as new runs)."""
    store = RunStore.open(run, home)
    with LaunchLock(store.dir):  # two resumes at once: the second finds the first's workers
        check_no_writer(store)
        spec = registry.from_toml(store.spec_text())
        if force or getattr(spec, "force_regenerate", False):
            clear_results(store)
        reopen(store)
        start_workers(store, spec, locations.home(home), registry)
    return store.run_id


def check_no_writer(store: RunStore, what: str = "resume") -> None:
    """Refuse (RunLocked, naming the holder) while a worker of this run is live: one writer per run."""
    manifest = store.manifest()
    finished = manifest.get("status") not in ("running", "queued")
    deadline = time.monotonic() + 15
    while True:
        holders, pids = live_holders(store.dir), live_pids(manifest)
        # A finished run's worker may still be exiting; a killed one may hold its lock a moment after its main
        # thread is gone (its other threads still unwinding): wait for those, never for a live writer.
        dying = not pids and all(not same_process(h.pid, h.start) for h in holders)
        if not (holders or pids) or not (finished or dying) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if holders:
        raise RunLocked(locked_message(store.run_id, holders[0], what))
    if pids:  # started but not yet holding its lock (a worker takes it first thing)
        raise RunLocked(f"run {store.run_id} is still running (worker pid {', '.join(map(str, pids))}): one "
                        f"writer per run, so {what} is refused. Wait for it, or cancel it first "
                        f"(confconsole cancel {store.run_id}).")


def clear_results(store: RunStore) -> None:
    """What a force-resume recomputes: every chunk (a pipeline: every step, as new runs)."""
    from experiments.runs.emit import Emitter

    store.clear_chunks()
    steps = store.manifest().get("steps") or {}
    if steps:
        store.update_manifest(steps={name: {**info, "run_id": "", "status": ""} for name, info in steps.items()})
    reset = Emitter(store.events_path, store.run_id)
    reset.log("force resume: every chunk will be recomputed")
    reset.progress(0, None, force=True)  # readers' progress restarts from zero


def reopen(store: RunStore) -> None:
    """A finished, interrupted or cancelled run back to `queued`, ready for workers."""
    (store.dir / ".finalizing").unlink(missing_ok=True)
    store.clear_stale_tmp()  # half-written temporaries of a killed worker (never read: renames are atomic)
    store.update_manifest(reopen=True, status="queued", resumed=store.manifest().get("resumed", 0) + 1, error=None)


def wait(run: str, home: str | os.PathLike[str] | None = None, timeout: float | None = None,
         poll: float = 0.2) -> str:
    """Block until the run leaves running/queued; returns its effective status."""
    store = RunStore.open(run, home)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = store.effective_status()
        if status not in ("running", "queued"):
            return status
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"run {store.run_id} still {status} after {timeout}s")
        time.sleep(poll)
