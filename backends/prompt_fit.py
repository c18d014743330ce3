"""Fit a prompt into `max_prompt_length` by cutting its content, never the chat template around it.

Cutting the token ids of a *rendered* chat prompt drops the assistant generation header (`right`) or the system
header (`left`), so the model no longer sees a well-formed turn. Instead the last user message's content is cut
with the model's tokenizer and the template is rendered again around it: the rendered prompt keeps every header
and fits the limit. Raw completion prompts (no template) are cut directly. Every backend (hf, vLLM, and the
OpenAI-compatible client, which sends the cut messages for the server to render) shares this one function.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from backends.base import GenerationRequest, PromptTooLong

MAX_REFITS = 8  # re-tokenising a cut text can merge tokens differently; a few refits always converge


@dataclass(frozen=True)
class FittedPrompt:
    """The request as sent (content possibly cut), its rendered token ids, and whether anything was cut."""

    request: GenerationRequest
    ids: list[int]
    truncated: bool


def render_ids(tokenizer: Any, request: GenerationRequest) -> list[int]:
    """Token ids of the prompt as the model sees it: chat template with the generation header, or the raw text."""
    if request.messages is not None:
        text = tokenizer.apply_chat_template([dict(m) for m in request.messages], tokenize=False,
                                             add_generation_prompt=True)
    else:
        text = request.prompt or ""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _content_index(messages: tuple[dict[str, str], ...]) -> int:
    """The message whose content may be cut: the last user turn (else the last message)."""
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    return users[-1] if users else len(messages) - 1


def _with_content(request: GenerationRequest, text: str) -> GenerationRequest:
    if request.messages is None:
        return replace(request, prompt=text)
    at = _content_index(request.messages)
    messages = tuple({**m, "content": text} if i == at else m for i, m in enumerate(request.messages))
    return replace(request, messages=messages)


def fit_prompt(tokenizer: Any, request: GenerationRequest, limit: int | None, truncation: str) -> FittedPrompt:
    """Render `request` within `limit` tokens per `truncation` (left keeps the content's end, right its start).

    Raises PromptTooLong for `error`, or when the template and the other messages alone exceed the limit.
    """
    ids = render_ids(tokenizer, request)
    if limit is None or len(ids) <= limit:
        return FittedPrompt(request, ids, False)
    if truncation == "error":
        raise PromptTooLong(f"prompt has {len(ids)} tokens > max_prompt_length {limit}")
    if truncation not in ("left", "right"):
        raise ValueError(f"truncation must be left, right or error, not {truncation!r}")
    content = request.prompt if request.messages is None else request.messages[_content_index(request.messages)]
    text = content if isinstance(content, str) else str((content or {}).get("content", ""))
    content_ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    keep = len(content_ids) - (len(ids) - limit)
    for _ in range(MAX_REFITS):
        if keep <= 0:
            break
        part = content_ids[-keep:] if truncation == "left" else content_ids[:keep]
        cut = _with_content(request, tokenizer.decode(part, skip_special_tokens=False))
        ids = render_ids(tokenizer, cut)
        if len(ids) <= limit:
            return FittedPrompt(cut, ids, True)
        keep -= len(ids) - limit
    overhead = len(render_ids(tokenizer, _with_content(request, "")))
    raise PromptTooLong(f"prompt has {len(render_ids(tokenizer, request))} tokens > max_prompt_length {limit}, "
                        f"and the chat template with the other messages alone takes {overhead}: "
                        "no part of the content fits")
