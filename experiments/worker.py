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
from experiments.events import RunStatus
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


def run_worker(run_dir: Path, worker: int = 0, workers: int = 1, home: Path | None = None) -> int:
    store = RunStore(run_dir)
    spec = spec_from_toml(store.spec_text())
    emit = Emitter(store.events_path, store.run_id, worker)
    ctx = StageContext(store=store, emit=emit, worker=worker, num_workers=workers, home=home)
    signal.signal(signal.SIGTERM, _raise_cancelled)
    try:
        if not set_status(ctx, "running", f"worker {worker + 1}/{workers} pid {os.getpid()}", started=time.time()):
            return 1  # cancelled before it started, or a sibling failed: nothing to do until a resume
        stage_runner(spec.stage)(spec, ctx)
        ctx.stop_local_server()  # before `done`: whoever waits on the run finds its server gone
        emit.flush()
        if all_chunks_done(store) and claim_finalize(store):
            finalize(spec, ctx)
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


def finalize(spec: Any, ctx: StageContext) -> None:
    finalizer = stage_finalizer(spec.stage)
    summary = finalizer(spec, ctx) if finalizer else {}
    store = ctx.store
    counts = {"records": store.record_count(), "errors": len(store.errors()),
              "chunks_done": len(store.done_chunks())}
    try:
        nxt = prepare_next_stage(spec, ctx)
        links = {"next_run": nxt[0].run_id} if nxt else {}
        if set_status(ctx, "done", finished=time.time(), summary=summary, counts=counts, **links) and nxt:
            start_next_stage(nxt[0], nxt[1], ctx)
        elif nxt:
            nxt[0].update_manifest(status="cancelled", error=f"its input run {store.run_id} did not finish")
    finally:
        (store.dir / ".finalizing").unlink(missing_ok=True)


def start_next_stage(nxt: RunStore, spec: Any, ctx: StageContext) -> None:
    from experiments.jobs import start_workers

    try:
        start_workers(nxt, spec, ctx.home)
    except Exception as exc:  # noqa: BLE001 - the next run says why it never started; this one stays done
        nxt.update_manifest(status="failed", error=f"workers did not start: {type(exc).__name__}: {exc}")
        raise
    ctx.emit.log(f"launched next stage: {nxt.run_id}")


def prepare_next_stage(spec: Any, ctx: StageContext) -> tuple[RunStore, Any] | None:
    """The next run of a `then` chain, created once (a resumed, re-finalized run does not launch it again).
    A next stage that cannot be created is logged and recorded; it never changes this run's status."""
    if not spec.then or ctx.store.manifest().get("next_run"):
        return None
    from experiments.jobs import prepare_next

    try:
        return prepare_next(spec, ctx.store, ctx.home)
    except Exception as exc:  # noqa: BLE001 - this run is finished whatever its successor does
        ctx.emit.log(f"could not launch the next stage: {type(exc).__name__}: {exc}", "error")
        ctx.store.update_manifest(next_error=f"{type(exc).__name__}: {exc}")
        return None


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
