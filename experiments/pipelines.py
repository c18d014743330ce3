"""Ready-made chains of stages (the demo: inference -> grading -> tagging on the embedded model)."""

from __future__ import annotations

import secrets
import time

from experiments.datasets.base import DatasetSpec
from experiments.specs import DEFAULT_MAX_TOKENS, BackendSpec, SamplingSpec
from experiments.stages.inference.spec import InferenceSpec

DEMO_SOURCE = "arith"  # the embedded model gets some of these right: a real mix of tokens


def demo_spec(limit: int = 20, model: str = "smollm2-135m", n: int = 1, max_tokens: int = DEFAULT_MAX_TOKENS,
              batch_size: int = 8, chunk_size: int = 8, temperature: float = 0.0,
              source: str = DEMO_SOURCE) -> InferenceSpec:
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

