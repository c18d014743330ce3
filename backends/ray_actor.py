"""An engine owned by a Ray actor: the unit of work on a Ray cluster (one actor per GPU group).

The class is plain Python; the driver wraps it with `ray.remote(...)` and its resources at run time, so importing
this module never imports Ray. Results travel back to the driver, which alone writes the run store: nodes need no
shared storage.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from backends.base import GenerationRequest, GenerationResult, SamplingParams


class EngineActor:
    def __init__(self, kind: str, model: str, options: dict[str, Any]) -> None:
        from backends.registry import make_generator

        self.generator = make_generator(kind, model, **options)

    def ready(self) -> dict[str, Any]:
        """Where the engine lives (host, pid): resolves once the engine is built."""
        return {"host": socket.gethostname(), "pid": os.getpid(), **self.generator.describe()}

    def generate(self, requests: list[GenerationRequest], params: SamplingParams) -> list[GenerationResult]:
        return list(self.generator.generate(requests, params))

    def close(self) -> None:
        self.generator.close()
