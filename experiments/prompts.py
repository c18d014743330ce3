"""Prompt templates: how an `Example` becomes chat messages for a model.

Templates are named so specs stay declarative; each dataset source has a default one.
"""

from __future__ import annotations

from collections.abc import Callable

from experiments.datasets.base import Example

Messages = tuple[dict[str, str], ...]


def _gsm8k(ex: Example) -> str:
    return (
        f"{ex.question}\n\nSolve the problem step by step, then give the final answer on its own line "
        "as '#### <number>'."
    )


def _math(ex: Example) -> str:
    return f"{ex.question}\n\nPlease reason step by step, and put your final answer within \\boxed{{}}."


def _options_text(ex: Example) -> str:
    options = ex.context.get("options") or {}
    if isinstance(options, (list, tuple)):
        options = {chr(ord("A") + i): text for i, text in enumerate(options)}
    return "\n".join(f"{letter}. {text}" for letter, text in options.items())


def _mc(ex: Example) -> str:
    return (
        f"{ex.question}\n\n{_options_text(ex)}\n\nThink step by step, then end with a line of the form "
        "'Answer: X' where X is the letter of the correct option."
    )


def _yesno(ex: Example) -> str:
    passage = ex.context.get("passage")
    lead = f"Passage: {passage}\n\n" if passage else ""
    question = ex.question if ex.question.rstrip().endswith("?") else f"{ex.question}?"  # BoolQ omits the '?'
    return f"{lead}Question: {question}\n\nAnswer with 'Answer: yes' or 'Answer: no' on the last line."


def _code(ex: Example) -> str:
    entry = ex.context.get("entry_point")
    need = f" The solution must define `{entry}`." if entry else ""
    return f"{ex.question}\n\nWrite a complete Python solution in a single ```python code block.{need}"


def _plain(ex: Example) -> str:
    return ex.question


TEMPLATES: dict[str, Callable[[Example], str]] = {
    "gsm8k": _gsm8k,
    "math": _math,
    "mc": _mc,
    "yesno": _yesno,
    "code": _code,
    "plain": _plain,
}
DOMAIN_TEMPLATE = {"gsm8k": "gsm8k", "numeric": "gsm8k", "arith": "gsm8k", "math": "math", "mc": "mc", "yesno": "yesno",
                   "code": "code"}


def render_messages(ex: Example, template: str | None = None, system_prompt: str | None = None) -> Messages:
    """Chat messages for one example: an optional system prompt, then the templated user turn."""
    name = template or DOMAIN_TEMPLATE.get(ex.domain, "plain")
    if name not in TEMPLATES:
        raise ValueError(f"unknown prompt template {name!r}; known: {', '.join(sorted(TEMPLATES))}")
    messages: list[dict[str, str]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": TEMPLATES[name](ex)})
    return tuple(messages)
