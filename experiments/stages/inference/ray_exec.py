"""Inference chunks on a Ray cluster: one actor per GPU group owns an engine; the driver writes the run store.

The run's single worker process is the Ray driver. It hands each ready actor one chunk at a time, so the work in
flight is at most one chunk per actor; a chunk comes back whole and is written atomically like any local chunk.
When an actor or its node dies, its chunk goes back to the queue and a replacement actor is asked for: a run loses
at most the chunks in flight, and resume skips what was written. Results travel back to the driver, so nodes need
no shared storage; the run folder lives where the driver runs and the TUI watches it there.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

from backends.base import GenerationRequest
from experiments.datasets import Example
from experiments.prompts import render_messages
from experiments.runs.context import StageContext
from experiments.stages.inference.params import sampling_params
from experiments.stages.inference.spec import InferenceSpec

ROOT = Path(__file__).resolve().parents[3]
MAX_REPLACEMENTS_PER_ACTOR = 3


def connect(spec: InferenceSpec) -> Any:
    import ray

    runtime_env = dict(spec.ray_runtime_env)
    env_vars = {**runtime_env.get("env_vars", {}), "PYTHONPATH": str(ROOT)}
    runtime_env["env_vars"] = env_vars
    address = None if spec.ray_address == "local" else spec.ray_address
    ray.init(address=address, runtime_env=runtime_env, ignore_reinit_error=True, log_to_driver=False,
             include_dashboard=False if address is None else None)
    return ray


def actor_options(spec: InferenceSpec) -> dict[str, Any]:
    gpus = spec.ray_gpus_per_actor if spec.ray_gpus_per_actor is not None else 0
    return {"num_cpus": spec.ray_cpus_per_actor, "num_gpus": gpus, "resources": dict(spec.ray_resources),
            "max_restarts": 0}


def engine_options(spec: InferenceSpec) -> dict[str, Any]:
    options = dict(spec.backend.options)
    if spec.backend.kind == "vllm" and spec.tensor_parallel > 1:
        options.setdefault("tensor_parallel_size", spec.tensor_parallel)
    if spec.backend.kind in ("hf", "vllm"):
        options.setdefault("max_prompt_length", spec.max_prompt_length)
        options.setdefault("truncation", spec.truncation)
    return options


class RayPool:
    """Engine actors, their readiness, and replacements for the ones that die."""

    def __init__(self, ray: Any, spec: InferenceSpec, ctx: StageContext) -> None:
        from backends.ray_actor import EngineActor

        self.ray, self.ctx = ray, ctx
        self.remote_cls = ray.remote(EngineActor).options(**actor_options(spec))
        self.args = (spec.backend.kind, spec.model, engine_options(spec))
        self.starting: dict[Any, Any] = {}  # ready() future -> actor
        self.idle: list[Any] = []
        self.replacements_left = spec.ray_actors * MAX_REPLACEMENTS_PER_ACTOR
        for _ in range(spec.ray_actors):
            self.start_actor()

    def start_actor(self) -> None:
        actor = self.remote_cls.remote(*self.args)
        self.starting[actor.ready.remote()] = actor

    def replace(self, actor: Any, why: str) -> None:
        self.ray.kill(actor, no_restart=True)
        if self.replacements_left > 0:
            self.replacements_left -= 1
            self.ctx.emit.log(f"engine actor lost ({why}); asking Ray for a replacement", "warning")
            self.start_actor()
        else:
            self.ctx.emit.log(f"engine actor lost ({why}); no replacements left", "warning")

    def on_ready(self, future: Any) -> None:
        actor = self.starting.pop(future)
        try:
            where = self.ray.get(future)
        except Exception as exc:  # noqa: BLE001 - an actor that fails to start is replaced, not fatal
            self.replace(actor, f"start failed: {type(exc).__name__}")
            return
        self.ctx.emit.log(f"engine actor ready on {where.get('host')} pid {where.get('pid')}")
        self.ctx.store.update_manifest(backend={k: v for k, v in where.items() if k not in ("host", "pid")})
        self.idle.append(actor)

    def shutdown(self) -> None:
        for actor in [*self.idle, *self.starting.values()]:
            self.ray.kill(actor, no_restart=True)


def run_on_ray(spec: InferenceSpec, ctx: StageContext, chunks: list[list[Example]], todo: list[int], total: int,
               done_on_disk: Any, build_records: Any) -> None:
    """`build_records(chunk_index, results, messages) -> records` turns one chunk's results into its records
    (errors recorded), exactly as the local path does."""
    ray = connect(spec)
    params = sampling_params(spec)
    pool = RayPool(ray, spec, ctx)
    queue = deque(todo)
    running: dict[Any, tuple[Any, int, dict[str, Any]]] = {}  # task future -> (actor, chunk, messages)
    started, generated = time.monotonic(), 0
    ctx.emit.log(f"ray: {spec.ray_actors} engine actors at {spec.ray_address}; {len(todo)} chunks to compute")
    try:
        while queue or running:
            while pool.idle and queue:
                actor, index = pool.idle.pop(), queue.popleft()
                messages = {ex.example_id: render_messages(ex, spec.dataset.template, spec.dataset.system_prompt)
                            for ex in chunks[index]}
                requests = [GenerationRequest(key=(index, eid), messages=m) for eid, m in messages.items()]
                running[actor.generate.remote(requests, params)] = (actor, index, messages)
            if not pool.starting and not running:
                raise RuntimeError("no engine actor left on the Ray cluster; resume the run when it has capacity")
            ready, _ = ray.wait([*running, *pool.starting], num_returns=1, timeout=1.0)
            for future in ready:
                if future in pool.starting:
                    pool.on_ready(future)
                    continue
                actor, index, messages = running.pop(future)
                try:
                    results = ray.get(future)
                except Exception as exc:  # noqa: BLE001 - actor or node died: the chunk goes back to the queue
                    queue.appendleft(index)
                    ctx.emit.log(f"chunk {index} lost with its actor; re-queued", "warning")
                    pool.replace(actor, type(exc).__name__)
                    continue
                pool.idle.append(actor)
                records = build_records(index, results, messages)
                written = ctx.store.write_chunk(index, records)
                ctx.emit.chunk(index, "computed", written)
                generated += sum(int(r.get("completion_tokens", 0)) for r in records)
                ctx.emit.progress(done_on_disk(), total, unit="samples")
                ctx.emit.metric("tokens_per_s", generated / max(1e-9, time.monotonic() - started))
    finally:
        pool.shutdown()
        ray.shutdown()
    ctx.emit.metric("tokens_per_s", generated / max(1e-9, time.monotonic() - started), force=True)
    ctx.emit.metric("generated_tokens", generated, force=True)
    ctx.emit.progress(done_on_disk(), total, unit="samples", force=True)
