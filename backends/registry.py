"""Backend registry with lazy `module:attr` targets: naming a backend imports nothing heavy until it is built."""

from __future__ import annotations

import importlib
from typing import Any

from backends.base import Generator

BACKENDS: dict[str, str] = {
    "hf": "backends.hf:HFGenerator",
    "vllm": "backends.vllm_engine:VLLMGenerator",
    "openai_compat": "backends.openai_compat:OpenAICompatGenerator",
    "bedrock": "backends.bedrock:BedrockGenerator",
}


def backend_class(kind: str) -> Any:
    try:
        target = BACKENDS[kind]
    except KeyError:
        raise ValueError(f"unknown backend {kind!r}; known: {', '.join(sorted(BACKENDS))}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def make_generator(kind: str, model: str, **options: Any) -> Generator:
    """Build a backend. `options` are the backend's constructor keywords (unknown ones raise TypeError)."""
    return backend_class(kind)(model=model, **options)
