"""Running a pipeline: each planned step run in order, recorded in the pipeline's manifest before it starts.

A step that needs one worker runs inside the pipeline's own worker process (no second start-up of torch and the
model stack); a data-parallel step gets its own workers and the pipeline waits for them. A step found done is
skipped, one found interrupted or cancelled is resumed from its chunks (or SFT checkpoints), one still running
under live workers is waited for. A step that fails ends the pipeline `failed`, naming the step.
"""

from __future__ import annotations

import os
import time
from typing import Any

from experiments.runs.context import Cancelled, StageContext
from experiments.runs.pipeline import Instance, PipelineSpec, plan
from experiments.runs.store import RunStore, live_pids, pid_alive, proc_start

POLL_S = 0.5


def step_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The pipeline's steps in order: {name, step, stage, run_id, status} (run_id empty until it is created)."""
    steps = manifest.get("steps") or {}
    return [dict(steps.get(name) or {"name": name}, name=name) for name in manifest.get("step_order") or []]


def run_pipeline(spec: PipelineSpec, ctx: StageContext, registry: Any) -> None:
    instances = plan(spec, registry)
    store = ctx.store
    manifest = store.manifest()
    known = manifest.get("steps") or {}
    if manifest.get("step_order") != [i.name for i in instances]:
        store.update_manifest(step_order=[i.name for i in instances],
                              steps={i.name: known.get(i.name) or {"step": i.step, "stage": i.stage, "run_id": ""}
                                     for i in instances})
    run_ids = {name: info.get("run_id", "") for name, info in (store.manifest().get("steps") or {}).items()}
    for number, inst in enumerate(instances):
        ctx.emit.progress(number, len(instances), "steps", force=True)
        run_ids[inst.name] = run_step(inst, run_ids, spec, ctx, registry)
    ctx.emit.progress(len(instances), len(instances), "steps", force=True)


def run_step(inst: Instance, run_ids: dict[str, str], spec: PipelineSpec, ctx: StageContext,
             registry: Any) -> str:
    """Bring one step to `done` (creating, resuming or waiting for its run); returns its run id."""
    from experiments.runs import jobs

    store = ctx.store
    step_store = _existing(run_ids.get(inst.name), ctx)
    if step_store is None:
        data = inst.spec_data(run_ids, spec.group, spec.title)
        step_spec = registry.parse(data)
        inputs = sorted({run_ids[s] for sources in inst.bindings.values() for s in sources})
        step_store, step_spec = jobs.prepare(step_spec, ctx.home, registry, extra={
            "pipeline": store.run_id, "step": inst.name, "inputs": inputs})
        _record(ctx, inst, step_store.run_id, "queued")
        ctx.emit.log(f"step {inst.name}: created run {step_store.run_id}")
    status = step_store.effective_status()
    if status == "done":
        _record(ctx, inst, step_store.run_id, "done")
        return step_store.run_id
    _record(ctx, inst, step_store.run_id, "running")
    ctx.emit.log(f"step {inst.name} ({inst.stage}): {'resuming' if status != 'queued' else 'running'} "
                 f"{step_store.run_id}")
    final = _drive(step_store, ctx, registry)
    _record(ctx, inst, step_store.run_id, final)
    if final == "cancelled":
        raise Cancelled()
    if final != "done":
        error = step_store.manifest().get("error") or final
        raise RuntimeError(f"step {inst.name} ({inst.stage}, run {step_store.run_id}) {final}: {error}")
    return step_store.run_id


def _existing(run_id: str | None, ctx: StageContext) -> RunStore | None:
    if not run_id:
        return None
    try:
        return RunStore.open(run_id, ctx.home)
    except FileNotFoundError:
        ctx.emit.log(f"run {run_id} is gone: the step starts again", "warning")
        return None


def _record(ctx: StageContext, inst: Instance, run_id: str, status: str) -> None:
    ctx.store.update_manifest(steps={inst.name: {"step": inst.step, "stage": inst.stage, "run_id": run_id,
                                                 "status": status}})
    ctx.emit.artifact(run_id, "step", {"name": inst.name, "stage": inst.stage, "status": status})


def _drive(step: RunStore, ctx: StageContext, registry: Any) -> str:
    """Run the step to an end state: in this process when it needs one worker, else through its own workers."""
    from experiments.runs import jobs
    from experiments.runs.worker import run_attempt

    manifest = step.manifest()
    live = [p for p in live_pids(manifest) if p != os.getpid()]
    if manifest.get("status") in ("running", "queued") and live:
        return _wait(step, live)  # the pipeline's worker was killed, the step's own workers were not
    spec = registry.from_toml(step.spec_text())
    if manifest.get("status") not in ("queued",) or manifest.get("pids"):
        jobs.reopen(step)
    groups = jobs.worker_groups(spec)
    if len(groups) > 1:
        try:
            return _wait(step, jobs.start_workers(step, spec, ctx.home, registry))
        except Cancelled:
            jobs.cancel_store(step)
            raise
    step.update_manifest(status="queued", pids=[os.getpid()], pid_starts=[proc_start(os.getpid())], workers=1)
    run_attempt(step, registry, home=ctx.home)
    return step.effective_status()


def _wait(step: RunStore, pids: list[int]) -> str:
    while True:
        status = step.effective_status()
        if status not in ("running", "queued") or not any(pid_alive(p) for p in pids):
            return step.effective_status()
        time.sleep(POLL_S)


def finalize_pipeline(spec: PipelineSpec, ctx: StageContext) -> dict[str, Any]:
    rows = step_rows(ctx.store.manifest())
    return {"steps": [{k: row.get(k, "") for k in ("name", "stage", "run_id", "status")} for row in rows]}
