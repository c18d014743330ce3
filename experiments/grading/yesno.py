"""Yes/no questions (BoolQ): find the final yes/no (or true/false) and treat hedges as no answer."""

from __future__ import annotations

import re

from experiments.grading.verdict import Verdict, error, no_answer, ok

_WORDS = {"yes": True, "true": True, "no": False, "false": False}
_W = r"(?P<w>yes|no|true|false)(?![a-z])"
_PHRASE_RE = re.compile(
    r"(?:final\s+answer|\banswer)(?:\s*(?:is|would\s+be|:|-|=|\u2014))*\s*[\s*_\"'`(\[{$]*"
    r"(?:\\boxed\s*\{\s*(?:\\text\s*\{)?\s*)?" + _W,
    re.IGNORECASE,
)
_BOXED_RE = re.compile(r"\\boxed\s*\{\s*(?:\\text(?:bf)?\s*\{)?\s*" + _W, re.IGNORECASE)
_BOLD_RE = re.compile(r"\*\*\s*" + _W + r"\s*[.!]?\s*\*\*", re.IGNORECASE)
_START_RE = re.compile(r"^[\s*_\"'`(]*" + _W + r"\s*(?:[.,!:;)*]|$|\s+[-\u2014])", re.IGNORECASE)
_END_RE = re.compile(r"(?:^|[\n.:,;])[\s*_\"'`(]*" + _W + r"[\s*_\"'`)]*[.!]?[\s*_\"'`)]*$", re.IGNORECASE)
_HEDGE_RE = re.compile(
    r"\b(?:it\s+depends|depends\s+on|maybe|perhaps|unclear|not\s+sure|cannot\s+be\s+determined"
    r"|can't\s+be\s+determined|uncertain|insufficient\s+information)\b",
    re.IGNORECASE,
)


def extract_yesno(response: str) -> tuple[str, bool] | None:
    """(word, value) of the final answer, or None when there is none (e.g. only a hedge)."""
    strong = []
    for rx in (_PHRASE_RE, _BOXED_RE, _BOLD_RE):
        strong.extend((m.start(), m.group("w")) for m in rx.finditer(response))
    if strong:
        word = max(strong)[1]
        return word, _WORDS[word.lower()]
    for rx in (_START_RE, _END_RE):
        m = rx.search(response.strip())
        if m:
            return m.group("w"), _WORDS[m.group("w").lower()]
    return None


def gold_bool(gold: object) -> bool | None:
    """Gold as bool from a bool, 0/1, or 'yes'/'no'/'true'/'false'."""
    if isinstance(gold, bool):
        return gold
    if isinstance(gold, int) and gold in (0, 1):
        return bool(gold)
    return _WORDS.get(str(gold).strip().strip(".").lower())


def grade_yesno(response: str, gold: object, **_: object) -> Verdict:
    """Grade a yes/no response."""
    g = gold_bool(gold)
    if g is None:
        return error(f"gold {str(gold)[:40]!r} is not yes/no/true/false")
    got = extract_yesno(response)
    if got is None:
        hedge = _HEDGE_RE.search(response)
        return no_answer(f"hedge without final answer: {hedge.group(0)!r}" if hedge else "no yes/no found")
    word, value = got
    correct = value == g
    return ok(
        correct, word.lower(), "" if correct else f"answered {word.lower()}, gold {'yes' if g else 'no'}"
    )
