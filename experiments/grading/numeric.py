"""GSM8K-style numeric answers: pull one number out of free text and compare with tolerance.

Hand-written on purpose: math-verify is slower and stricter than needed for integers and money,
and GSM8K replies carry currency, units and thousands separators that a number regex handles well.
"""

from __future__ import annotations

import re
from fractions import Fraction

from experiments.grading.math_grader import last_boxed_at
from experiments.grading.verdict import Verdict, error, no_answer, ok

REL_TOL = 1e-6
ABS_TOL = 1e-6

# A number: optional sign and currency, thousands-grouped or plain digits, optional decimals,
# optional "/denominator", optional trailing percent.
_NUM = (
    r"(?P<sign>[-\u2212])?(?:[$\u20ac\u00a3]\s*)?"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?P<dec>\.\d+)?(?P<exp>[eE][-+]?\d{1,3}(?![\w.]))?"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d+)?))?(?P<pct>\s*%)?"
)
_NUM_RE = re.compile(r"(?<![\w.])" + _NUM)
_HASH_RE = re.compile(r"####\s*([^\n]*)")
_PHRASE_RE = re.compile(r"\banswer\s*(?:is\b\s*[:=]?|[:=])\s*(?P<rest>[^\n]*)", re.IGNORECASE)
_LEAD_RE = re.compile(r"[\s*_`'\"(\[:=~\u2248]*(?:(?:about|approximately|approx\.?|exactly)\s+)?")
_FRAC_RE = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_NOISE_RE = re.compile(r"\\(?:text|mathrm|textbf|mathbf)\s*\{([^{}]*)\}|\\[,;:! ]|\\%|\\\$|[{}]")


def _delatex(s: str) -> str:
    """Turn the little LaTeX GSM8K answers use into plain text (fractions become a/b)."""
    s = _FRAC_RE.sub(r"(\1)/(\2)", s)
    s = s.replace("\\%", "%").replace("\\$", "$").replace("{,}", ",")
    s = _LATEX_NOISE_RE.sub(lambda m: m.group(1) or "", s)
    return s.replace("(", "").replace(")", "")


def _to_value(m: re.Match) -> tuple[Fraction, bool] | None:
    """(value, had_percent) for a regex match, or None for a match without digits."""
    if m.group("int") is None and m.group("dec") is None:
        return None
    num = Fraction((m.group("int") or "0").replace(",", "") + (m.group("dec") or "") + (m.group("exp") or ""))
    if m.group("den"):
        den = Fraction(m.group("den"))
        if den == 0:
            return None
        num /= den
    if m.group("sign"):
        num = -num
    return num, bool(m.group("pct"))


def numbers_in(text: str) -> list[tuple[str, Fraction, bool]]:
    """All numbers in ``text`` in order: (surface form, value, had_percent)."""
    out = []
    for m in _NUM_RE.finditer(_delatex(text)):
        v = _to_value(m)
        if v is not None:
            out.append((m.group(0).strip(), v[0], v[1]))
    return out


def _first(text: str) -> tuple[str, Fraction, bool] | None:
    nums = numbers_in(text)
    return nums[0] if nums else None


def _leading(text: str) -> tuple[str, Fraction, bool] | None:
    """The number a phrase's rest starts with ("the answer is **$18**"), not one further on ("is correct in 2")."""
    plain = _delatex(text)
    m = _NUM_RE.match(plain, _LEAD_RE.match(plain).end())
    value = _to_value(m) if m else None
    return (m.group(0).strip(), *value) if m and value else None


def _stated(response: str) -> list[tuple[int, tuple[str, Fraction, bool]]]:
    """(position, number) of every explicit final statement: ``#### N``, the last box, "the answer is N"."""
    found = [(m.start(), _first(m.group(1))) for m in _HASH_RE.finditer(response)]
    boxed = last_boxed_at(response)
    if boxed is not None:
        found.append((boxed[0], _first(boxed[1])))
    found += [(m.start(), _leading(m.group("rest"))) for m in _PHRASE_RE.finditer(response)]
    return [(pos, num) for pos, num in found if num is not None]


def extract_number(response: str) -> tuple[str, Fraction, bool] | None:
    """The last stated answer (``#### N``, ``\\boxed{N}`` or "the answer is N", whichever comes last, so a
    response that corrects itself is graded on its correction), else the last number after an "answer" phrase,
    else the last number in the text."""
    stated = _stated(response)
    if stated:
        return max(stated, key=lambda item: item[0])[1]
    for m in reversed(list(_PHRASE_RE.finditer(response))):
        got = _first(m.group("rest"))
        if got:
            return got
    nums = numbers_in(response)
    return nums[-1] if nums else None


def gold_number(gold: object) -> Fraction | None:
    """Gold may be a number, a bare numeric string, or a full GSM8K solution ending in ``#### N``."""
    if isinstance(gold, bool):
        return None
    if isinstance(gold, (int, float)):
        return Fraction(gold)
    got = extract_number(str(gold))
    return got[1] if got else None


def close(a: Fraction, b: Fraction) -> bool:
    """Equal within a small relative/absolute tolerance (5.0 == 5, 0.333333 ~ 1/3 is NOT accepted)."""
    return abs(a - b) <= max(ABS_TOL, REL_TOL * max(abs(a), abs(b)))


def grade_numeric(response: str, gold: object, **_: object) -> Verdict:
    """Grade a GSM8K-style response. ``50%`` matches gold 50 or gold 0.5."""
    g = gold_number(gold)
    if g is None:
        return error(f"gold has no number: {str(gold)[:80]!r}")
    pred = extract_number(response)
    if pred is None:
        return no_answer("no number in response")
    surface, value, pct = pred
    correct = close(value, g) or (pct and close(value / 100, g))
    return ok(bool(correct), surface, "" if correct else f"{surface} != gold {float(g):g}")
