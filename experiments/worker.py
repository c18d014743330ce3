"""`python -m experiments.worker RUN_DIR [--worker I --workers N]`: runs one run's stage in its own process.

It outlives the TUI (started in its own session). SIGTERM raises `Cancelled` at the next bytecode: the chunk in
flight is dropped (chunks are written atomically) and the run is marked `cancelled`. The worker that finds every
chunk done finalizes the run (summary, outputs) and launches the next stage of a `then` chain.
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

from experiments.emit import Emitter
from experiments.specs import spec_from_toml
from experiments.stages import stage_finalizer, stage_runner
from experiments.stages.context import Cancelled, StageContext
from experiments.store import RunStore


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


def run_worker(run_dir: Path, worker: int = 0, workers: int = 1, home: Path | None = None) -> int:
    store = RunStore(run_dir)
    spec = spec_from_toml(store.spec_text())
    emit = Emitter(store.events_path, store.run_id, worker)
    ctx = StageContext(store=store, emit=emit, worker=worker, num_workers=workers, home=home)
    signal.signal(signal.SIGTERM, _raise_cancelled)
    store.update_manifest(status="running", started=time.time())
    emit.status("running", f"worker {worker + 1}/{workers} pid {os.getpid()}")
    try:
        stage_runner(spec.stage)(spec, ctx)
        ctx.stop_local_server()  # before `done`: whoever waits on the run finds its server gone
        emit.flush()
        if all_chunks_done(store) and claim_finalize(store):
            finalize(spec, ctx)
        return 0
    except Cancelled:
        emit.log("cancelled: the chunk in flight was dropped", "warning")
        store.update_manifest(status="cancelled")
        emit.status("cancelled")
        return 1
    except BaseException as exc:  # noqa: BLE001 - any failure must end in a readable status
        emit.log(traceback.format_exc(), "error")
        store.update_manifest(status="failed", error=f"{type(exc).__name__}: {exc}")
        emit.status("failed", f"{type(exc).__name__}: {exc}")
        return 2
    finally:
        ctx.stop_local_server()
        emit.flush()


def finalize(spec: Any, ctx: StageContext) -> None:
    finalizer = stage_finalizer(spec.stage)
    summary = finalizer(spec, ctx) if finalizer else {}
    store = ctx.store
    counts = {"records": store.record_count(), "errors": len(store.errors()),
              "chunks_done": len(store.done_chunks())}
    store.update_manifest(status="done", finished=time.time(), summary=summary, counts=counts)
    ctx.emit.status("done")
    if spec.then and not store.manifest().get("next_run"):  # a resumed, re-finalized run launches it once
        launch_then(spec, ctx)
    (store.dir / ".finalizing").unlink(missing_ok=True)


def launch_then(spec: Any, ctx: StageContext) -> None:
    """Launch the next stage of the chain. This run is done whatever happens here: a failure to launch is a
    warning and `next_error` in the manifest, never a change of this run's status."""
    from experiments.jobs import launch_next

    try:
        next_id = launch_next(spec, ctx.store, ctx.home)
    except Exception as exc:  # noqa: BLE001 - the finished run must stay done
        message = f"{type(exc).__name__}: {exc}"
        ctx.emit.log(f"could not launch the next stage ({spec.then[0].get('stage', '?')}): {message}", "warning")
        ctx.store.update_manifest(next_error=message)
        return
    ctx.emit.log(f"launched next stage: {next_id}")
    ctx.store.update_manifest(next_run=next_id, next_error=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args(argv)
    return run_worker(args.run_dir, args.worker, args.workers, args.home)


if __name__ == "__main__":
    sys.exit(main())
