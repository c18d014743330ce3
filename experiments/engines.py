"""Opening a stage's engine, once for every stage: managed local server, tensor parallel, truncation, timing."""

from __future__ import annotations

import threading
import time
from typing import Any

from experiments.specs import BackendSpec


class RetryRecorder:
    """What a run learns of its engines' retries: a warning log line (the first of each reason, then at 2, 4,
    8, ... so a long 429 storm stays readable), an `http_retries` metric, and the per-reason totals in the
    manifest's `retries`, added to at once (every attempt and worker of the run adds up; a kill -9 loses none)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, reason: str, description: str, delay: float) -> None:
        with self._lock:
            self.counts[reason] = n = self.counts.get(reason, 0) + 1
            total = sum(self.counts.values())
        self.ctx.store.add_counts("retries", {reason: 1})
        self.ctx.emit.metric("http_retries", total)
        if n & (n - 1) == 0:
            self.ctx.emit.log(f"retrying ({reason}, {n} so far in this attempt): {description[:300]}; next try in "
                              f"{delay:.1f}s", "warning")


def open_generator(backend: BackendSpec, model: str, ctx: Any, *, tensor_parallel: int = 1,
                   max_prompt_length: int | None = None, truncation: str | None = None,
                   extra_options: dict[str, Any] | None = None) -> Any:
    """Build the engine a spec names; a `server = "local"` backend starts the run's own vLLM server first.

    `ctx` is the stage's StageContext (for the managed server, logs and metrics).
    """
    from backends.registry import make_generator

    options = {**backend.options, **(extra_options or {})}
    if backend.kind == "openai_compat" and backend.server == "local":
        if ctx.served_model is None:
            options["base_url"] = ctx.start_local_server(model, backend.server_args)
        else:
            options["base_url"] = ctx.server_base_url
    if backend.kind == "vllm" and tensor_parallel > 1:
        options.setdefault("tensor_parallel_size", tensor_parallel)
    if backend.kind in ("hf", "vllm") and (max_prompt_length is not None or truncation is not None):
        options.setdefault("max_prompt_length", max_prompt_length)
        options.setdefault("truncation", truncation or "error")
    if backend.kind == "openai_compat" and max_prompt_length is not None:
        # counted with the model's own tokenizer (the spec's alias/folder, not the served name); refused without one
        options.setdefault("max_prompt_length", max_prompt_length)
        options.setdefault("truncation", truncation or "error")
        options.setdefault("tokenizer", model)
    if backend.kind == "hf":
        options.setdefault("progress", lambda msg: ctx.emit.log(msg))
    if backend.kind in ("openai_compat", "bedrock"):
        options.setdefault("on_retry", RetryRecorder(ctx))
    started = time.monotonic()
    generator = make_generator(backend.kind, ctx.served_model or model, **options)
    elapsed = time.monotonic() - started
    ctx.emit.metric("model_load_s", elapsed, force=True)
    ctx.emit.log(f"model loaded in {elapsed:.1f}s: {generator.describe()}")
    return generator
