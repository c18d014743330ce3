"""Tolerant parsing of an LLM judge's verdict text into a `Verdict`.

Judges (small local models especially) wrap JSON in code fences or prose, use single quotes, trailing commas,
Python literals, or answer "correct: yes" in plain text. We accept all of that where the meaning is
unambiguous, and otherwise say `invalid_json`: an unparseable verdict is never counted as right or wrong.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

VerdictStatus = Literal["ok", "invalid_json"]

TRUE_WORDS = frozenset({"yes", "y", "true", "correct", "right", "1"})
FALSE_WORDS = frozenset({"no", "n", "false", "incorrect", "wrong", "0"})
CORRECT_KEYS = ("correct", "is_correct", "verdict", "judgement", "judgment")
FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
TRAILING_COMMA = re.compile(r",\s*([}\]])")
TEXT_VERDICT = re.compile(r"""\bcorrect\b["']?\s*[:=]\s*["']?\s*(yes|no|true|false)\b""", re.IGNORECASE)


@dataclass
class Verdict:
    correct: bool | None
    model_answer: str | None = None
    correct_answer: str | None = None
    reasoning: str | None = None
    status: VerdictStatus = "ok"
    how: str = "json"  # json | repaired | text | none: how the verdict was recovered (for debugging)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def to_bool(value: Any) -> bool | None:
    """yes/no/true/false/1/0 (any case) -> bool; anything else -> None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().strip(".!\"'").lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _balanced_objects(text: str) -> list[str]:
    """Every top-level `{...}` span, matching braces outside quoted strings (either quote style)."""
    spans, depth, start, quote, escape = [], 0, -1, "", False
    for i, ch in enumerate(text):
        if quote:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "\"'" and depth > 0:
            # an apostrophe inside a word ("model's") is not a quote
            if ch == "'" and i > 0 and text[i - 1].isalnum() and i + 1 < len(text) and text[i + 1].isalnum():
                continue
            quote = ch
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start:i + 1])
    return spans


def _load_object(candidate: str) -> tuple[dict[str, Any] | None, str]:
    """Strict JSON first, then safe repairs: trailing commas, Python literals / single quotes."""
    try:
        obj = json.loads(candidate)
        return (obj, "json") if isinstance(obj, dict) else (None, "")
    except json.JSONDecodeError:
        pass
    repaired = TRAILING_COMMA.sub(r"\1", candidate)
    try:
        obj = json.loads(repaired)
        return (obj, "repaired") if isinstance(obj, dict) else (None, "")
    except json.JSONDecodeError:
        pass
    pythonish = re.sub(r"\bnull\b", "None", repaired)
    pythonish = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", pythonish))
    try:
        obj = ast.literal_eval(pythonish)  # literals only: never evaluates code
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None, ""
    return (obj, "repaired") if isinstance(obj, dict) else (None, "")


def _verdict_from(obj: dict[str, Any], how: str) -> Verdict | None:
    lower = {str(k).strip().lower(): v for k, v in obj.items()}
    correct = None
    for key in CORRECT_KEYS:
        if key in lower:
            correct = to_bool(lower[key])
            break
    if correct is None:
        return None
    return Verdict(correct=correct, model_answer=_text(lower.get("model_answer")),
                   correct_answer=_text(lower.get("correct_answer")), reasoning=_text(lower.get("reasoning")),
                   how=how)


def parse_verdict(text: str | None) -> Verdict:
    """The first JSON-ish object carrying a yes/no `correct`; else an unambiguous `correct: yes` line."""
    raw = (text or "").strip()
    candidates = [m.group(1) for m in FENCE.finditer(raw)] + [raw]
    for block in candidates:
        for span in _balanced_objects(block):
            obj, how = _load_object(span)
            if obj is not None:
                verdict = _verdict_from(obj, how)
                if verdict is not None:
                    return verdict
    words = {m.group(1).lower() in ("yes", "true") for m in TEXT_VERDICT.finditer(raw)}
    if len(words) == 1:
        return Verdict(correct=words.pop(), how="text")
    return Verdict(correct=None, status="invalid_json", how="none")
