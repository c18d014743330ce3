"""Opening the base and oracle sessions a guided spec names (hf, vllm offline, or an OpenAI-compatible server)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from experiments.specs import BackendSpec


def open_session(backend: BackendSpec, model: str, ctx: Any, role: str, attention_stats: bool = False) -> Any:
    """A `ModelSession` for `model`; `server = "local"` starts the run's vLLM server (openai_compat only)."""
    options = dict(backend.options)
    started = time.monotonic()
    if backend.kind == "hf":
        from backends.guided.hf_session import HFSession

        session: Any = HFSession(model, attention_stats=attention_stats and role == "base", **options)
    elif backend.kind == "vllm":
        from backends.guided.served_session import VLLMSession

        session = VLLMSession(model, **options)
    elif backend.kind == "openai_compat":
        from backends.guided.served_session import OpenAICompatSession
        from experiments.engines import RetryRecorder

        if backend.server == "local":
            options["base_url"] = ctx.start_local_server(model, backend.server_args)
            model = ctx.served_model or model
        options.setdefault("on_retry", RetryRecorder(ctx))
        session = OpenAICompatSession(model=model, **options)
    else:
        raise ValueError(f"guided decoding has no {backend.kind!r} session; use hf, vllm or openai_compat")
    elapsed = time.monotonic() - started
    ctx.emit.metric(f"{role}_load_s", elapsed, force=True)
    ctx.emit.log(f"{role} loaded in {elapsed:.1f}s: {session.describe()}")
    return session


def open_oracle(backend: BackendSpec, model: str, ctx: Any, base_backend: BackendSpec | None,
                base_model: str | None, base: Callable[[], Any]) -> Any:
    """The oracle session; the same model on the same local engine as the base shares the base's model (hf: one
    KV cache, nothing handed over; vllm: one engine) instead of loading a second copy. `base` gives the base
    session (loaded on demand: a resumed run with only oracle cells left loads it only when it is shared)."""
    shared = model == base_model and backend == base_backend and backend.kind in ("hf", "vllm")
    base_session = base() if shared else None
    if base_session is None:
        return open_session(backend, model, ctx, "oracle")
    if backend.kind == "hf":
        from backends.guided.hf_session import SameModelOracle

        session: Any = SameModelOracle(base_session)
    else:
        from backends.guided.served_session import VLLMSession

        session = VLLMSession(model, share=base_session)
    ctx.emit.log(f"oracle is the base model: sharing its {backend.kind} session")
    return session
