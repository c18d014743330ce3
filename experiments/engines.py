"""Opening a stage's engine, once for every stage: managed local server, tensor parallel, truncation, timing."""

from __future__ import annotations

import time
from typing import Any

from experiments.specs import BackendSpec


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
    started = time.monotonic()
    generator = make_generator(backend.kind, ctx.served_model or model, **options)
    elapsed = time.monotonic() - started
    ctx.emit.metric("model_load_s", elapsed, force=True)
    ctx.emit.log(f"model loaded in {elapsed:.1f}s: {generator.describe()}")
    return generator
