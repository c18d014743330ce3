"""The engine-neutral request/result types and the `Generator` protocol every backend implements.

Backends never see run stores or events: the core hands them requests and consumes results as they finish,
so any engine (transformers, vLLM, an HTTP server) plugs in behind the same three types.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Truncation = Literal["left", "right", "error"]


@dataclass(frozen=True)
class SamplingParams:
    """Sampling knobs shared by all engines (names follow vLLM's `SamplingParams`)."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = 0
    stop: tuple[str, ...] = ()
    logprobs: int | None = None  # top-k logprobs per generated token, None = off
    ignore_eos: bool = False


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt. `messages` (chat) or `prompt` (raw completion text); `key` is echoed back in results."""

    key: Any
    messages: tuple[dict[str, str], ...] | None = None
    prompt: str | None = None

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a GenerationRequest needs exactly one of messages or prompt")


@dataclass
class TokenLogprob:
    token: str
    logprob: float
    top: dict[str, float] = field(default_factory=dict)


@dataclass
class GenerationResult:
    """One completion of one request (a request with n=4 yields four results, sample_idx 0..3)."""

    key: Any
    sample_idx: int
    text: str
    finish_reason: str  # "stop" | "length" | "error"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    logprobs: list[TokenLogprob] | None = None
    error: str | None = None  # set when finish_reason == "error" (e.g. prompt too long with truncation=error)
    prompt_truncated: bool = False


def request_seed(base: int | None, key: Any) -> int | None:
    """Per-request seed derived from the run seed and the request key: the same request samples the same text
    whatever it is batched with or whenever it is scheduled (a chunk recomputed after a resume included)."""
    if base is None:
        return None
    return (base ^ zlib.crc32(repr(key).encode())) & 0x7FFFFFFF


class PromptTooLong(ValueError):
    """A prompt exceeds `max_prompt_length` and the truncation policy is `error`."""


@runtime_checkable
class Generator(Protocol):
    """An engine. `generate` yields results as they finish, in any order; `describe` names it in manifests."""

    def generate(self, requests: Iterable[GenerationRequest], params: SamplingParams) -> Iterator[GenerationResult]:
        ...

    def describe(self) -> dict[str, Any]:
        ...

    def close(self) -> None:
        ...
