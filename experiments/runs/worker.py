"""`python -m experiments.runs.worker RUN_DIR --registry MODULE:ATTR [--worker I --workers N]`: runs one run.

It outlives the TUI (started in its own session). SIGTERM raises `Cancelled` at the next bytecode: the chunk in
flight is dropped (chunks are written atomically) and the run is marked `cancelled`. The worker that finds every
chunk done finalizes the run (summary, outputs). A pipeline's worker runs its steps (`pipeline_run`). The stages
come from the registry named on the command line: this module imports none.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from experiments.runs.context import Cancelled, StageContext
from experiments.runs.emit import Emitter, arm_failpoint
from experiments.runs.events import RunStatus
from experiments.runs.lock import RunLock, RunLocked
from experiments.runs.registry import Registry, load_registry
from experiments.runs.store import RunStore

REFUSED = 3  # exit status of a worker refused because another one holds the run


def _raise_cancelled(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one cancellation is enough
    raise Cancelled()


def all_chunks_done(store: RunStore) -> bool:
    counts = store.manifest().get("counts", {})
    target = counts.get("chunks_target", counts.get("chunks_total"))
    return target is None or len(store.done_chunks()) >= target


def claim_finalize(store: RunStore) -> bool:
    """Exactly one data-parallel worker finalizes: the first to create the marker file."""
    try:
        fd = os.open(store.dir / ".finalizing", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def set_status(ctx: StageContext, status: RunStatus, message: str = "", **changes: Any) -> bool:
    """Write the status (forward only, see RunStore.update_manifest) and announce it only if it took: a late
    `running` must not show over a sibling's fast `failed` in the event stream either."""
    manifest = ctx.store.update_manifest(status=status, **changes)
    if manifest.get("status") == status:
        ctx.emit.status(status, message)
        return True
    ctx.emit.log(f"worker {ctx.worker + 1}: run already {manifest.get('status')}, not {status} {message}".strip(),
                 "warning")
    return False


def run_worker(run_dir: Path, registry: Registry, worker: int = 0, workers: int = 1,
               home: Path | None = None) -> int:
    signal.signal(signal.SIGTERM, _raise_cancelled)
    return run_attempt(RunStore(run_dir), registry, worker, workers, home)


def run_attempt(store: RunStore, registry: Registry, worker: int = 0, workers: int = 1,
                home: Path | None = None) -> int:
    """One attempt at a run in this process: its stage's `run`, then `finalize` by the last worker standing.
    Returns 0 (ran), 1 (cancelled or nothing to do) or 2 (failed); the manifest says which. Holds the run's lock
    for its worker slot throughout; raises RunLocked, having written nothing, when a live worker holds it."""
    with RunLock(store.dir, worker) as lock:
        if lock.recovered:
            Emitter(store.events_path, store.run_id, worker).log(
                f"recovered the lock of a dead writer: {lock.recovered.describe()}", "warning")
        return _attempt(store, registry, worker, workers, home)


def _attempt(store: RunStore, registry: Registry, worker: int, workers: int, home: Path | None) -> int:
    spec = registry.from_toml(store.spec_text())
    emit = Emitter(store.events_path, store.run_id, worker)
    ctx = StageContext(store=store, emit=emit, worker=worker, num_workers=workers, home=home)
    try:
        if not set_status(ctx, "running", f"worker {worker + 1}/{workers} pid {os.getpid()}", started=time.time()):
            return 1  # cancelled before it started, or a sibling failed: nothing to do until a resume
        registry.runner(spec.stage)(spec, ctx)
        ctx.stop_local_server()  # before `done`: whoever waits on the run finds its server gone
        emit.flush()
        if all_chunks_done(store) and claim_finalize(store):
            finalize(spec, ctx, registry)
        return 0
    except Cancelled:
        emit.log("cancelled: the chunk in flight was dropped", "warning")
        set_status(ctx, "cancelled")
        return 1
    except BaseException as exc:  # noqa: BLE001 - any failure must end in a readable status
        emit.log(traceback.format_exc(), "error")
        set_status(ctx, "failed", f"{type(exc).__name__}: {exc}", error=f"{type(exc).__name__}: {exc}")
        return 2
    finally:
        ctx.stop_local_server()
        emit.flush()


def finalize(spec: Any, ctx: StageContext, registry: Registry) -> None:
    finalizer = registry.finalizer(spec.stage)
    store = ctx.store
    try:
        summary = finalizer(spec, ctx) if finalizer else {}
        prepare_views(store, registry, ctx)
        counts = {"records": store.record_count(), "errors": len(store.errors()),
                  "chunks_done": len(store.done_chunks()),
                  "retries": sum((store.manifest().get("retries") or {}).values())}
        set_status(ctx, "done", finished=time.time(), summary=summary, counts=counts)
    finally:
        (store.dir / ".finalizing").unlink(missing_ok=True)


def prepare_views(store: RunStore, registry: Registry, ctx: StageContext) -> None:
    """The registry's `on_complete` hook (the stage registry's builds the records index), before `done`: so a done
    run opens with its caches ready and this worker has let go of the run when it reads done. A failure here is a
    warning: the views build their caches on first open instead."""
    hook = registry.on_complete()
    if hook is None:
        return
    try:
        hook(store)
    except Exception as exc:  # noqa: BLE001
        ctx.emit.log(f"{registry.on_complete_path} failed ({type(exc).__name__}: {exc}); the views build their "
                     "caches on first open instead", level="warning")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.runs.worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--registry", required=True, help="the stage registry, as module:attr")
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args(argv)
    os.umask(0o077)  # everything a run writes (parquet, checkpoints, adapters, logs) is the user's alone
    arm_failpoint()  # the fault suite's kill points (tests/faults); inert unless its variable is set
    try:
        return run_worker(args.run_dir, load_registry(args.registry), args.worker, args.workers, args.home)
    except RunLocked as exc:
        print(f"confconsole worker: {exc}", file=sys.stderr)
        return REFUSED


if __name__ == "__main__":
    sys.exit(main())
