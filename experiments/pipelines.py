"""Ready-made chains of stages (the demo: inference -> grading -> tagging on the embedded model)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from experiments.datasets.base import DatasetSpec
from experiments.specs import BackendSpec, InferenceSpec, SamplingSpec
from experiments.store import RunStore


def demo_spec(limit: int = 20, model: str = "smollm2-135m", n: int = 1, max_tokens: int = 256,
              batch_size: int = 8, chunk_size: int = 8, temperature: float = 0.0,
              source: str = "gsm8k") -> InferenceSpec:
    group = f"demo-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    return InferenceSpec(
        title=f"demo: {source} x{limit} on {model}",
        group=group,
        dataset=DatasetSpec(source=source, limit=limit),
        model=model,
        backend=BackendSpec(kind="hf", options={"batch_size": batch_size}),
        sampling=SamplingSpec(n=n, max_tokens=max_tokens, temperature=temperature),
        chunk_size=chunk_size,
        then=[{"stage": "grading", "title": "demo: grading"}, {"stage": "tagging", "title": "demo: tagging"}],
    )


def chain(run: str, home: Any = None) -> list[RunStore]:
    """The run and the runs launched after it (`next_run` links), in order."""
    stores = [RunStore.open(run, home)]
    while nxt := stores[-1].manifest().get("next_run"):
        stores.append(RunStore.open(nxt, home))
    return stores
