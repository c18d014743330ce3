"""Math answers (MATH, MATH-500, DeepScaleR): extract the final answer ourselves, judge with math-verify.

We extract the last stated final answer ourselves (the later of the last ``\\boxed{}`` and the last
"final answer is" phrase, so a response that corrects itself is graded on its correction) and report
exactly what was graded. A response with neither (a bare ``42``, ``3,500``, ``\\dfrac{3}{4}`` or
``so it is $x = 2$``) falls back to math-verify's own extraction over the response (LaTeX, then
expressions, as its ``parse`` does); only a response math-verify cannot read either is ``no_answer``.
Boxes that together list one answer (``\\boxed{1}, \\boxed{2}``) are joined (``math_boxes``); a response that
is nothing but a short answer (``x^2 + 2*x + 1``) is read whole. Equivalence is math-verify's, then the forms it
misjudges (``math_forms``: decimal comma, inequality against interval, decimals inside tuples / intervals /
matrices, LaTeX digit groups, mixed numbers, font commands); two answers that differ only by a prime differ.
"""

from __future__ import annotations

import re
import threading
from fractions import Fraction
from functools import lru_cache

from experiments.grading.math_boxes import last_box_group_at, last_boxed, last_boxed_at
from experiments.grading.math_forms import (
    approx_compound_equal,
    blank_broken_inline,
    decimal_comma,
    interval_pair,
    norm,
    simple_number,
    spellings,
)
from experiments.grading.verdict import Verdict, no_answer, ok

__all__ = ["extract_math_answer", "fast_equal", "gold_answer", "grade_math", "last_boxed", "last_boxed_at",
           "math_equal"]

# Set to False inside pool workers: they enforce their own wall-clock limit and math-verify's
# SIGALRM-based timeouts would clobber it.
USE_SIGNAL_TIMEOUTS = True
MV_TIMEOUT_S = 5

_PHRASE_RE = re.compile(
    r"(?:final\s+answer\s*(?:is|:)|the\s+answer\s+is|\banswer\s*:)\s*(?P<rest>[^\n]+)",
    re.IGNORECASE,
)
_MATHY_RE = re.compile(r"\s*(?:[-+\u2212$\\(\[{0-9.]|[a-zA-Z]\s*(?:=|<|>|\\[lg]e))")  # starts like math
# sentence punctuation written inside the closing math delimiter ("$\\frac{1}{3}.$"); an ellipsis stays
_END_PUNCT_RE = re.compile(r"(?<![.\\])\s*[.,;:](?=\s*(?:\$|\\\]|\\\)))")
_DANGLING_BACKSLASH_RE = re.compile(r"(?<!\\)\\\s*$")  # "185\\": a command cut off at the end
_PROSE_RE = re.compile(r"[A-Za-z]{2,}[^\S\n]+[A-Za-z]{2,}")  # two words in a row, once LaTeX commands are removed
BARE_ANSWER_MAX = 80
_PRIME_RE = re.compile(r"(?<=[A-Za-z])'+|(?<=[A-Za-z])\^\{?\\prime\}?")  # f', E'': math-verify drops the prime
_SEQ_RE = re.compile(r"(\\\{|\(|\[)([^()\[\]{}]*)(\\\}|\)|\])")
PARSE_CACHE_SIZE = 4096


def _clean_phrase(rest: str) -> str:
    """Trim math delimiters and sentence punctuation around a phrase-style answer."""
    s = rest.strip()
    while nested := _PHRASE_RE.search(s):  # "Final Answer: The final answer is 7.78."
        s = nested.group("rest").strip()
    inner = last_box_group_at(s)
    if inner is not None:
        return inner[1]
    for left, right in (("$$", "$$"), ("$", "$"), ("\\[", "\\]"), ("\\(", "\\)")):
        if s.startswith(left) and right in s[len(left) :]:
            s = s[len(left) : len(left) + s[len(left) :].index(right)]
            break
    s = s.strip().rstrip(".").strip()
    s = s.replace("**", "").strip()
    return s


def _mathy(answer: str) -> bool:
    """Does a phrase answer start like math ("15", "$x$", "x = 2")? "consistent with step 3" after a box does not."""
    return bool(_MATHY_RE.match(answer))


def _extract(response: str) -> tuple[str, str] | None:
    """(answer, "box" | "phrase"): the last box or the last final-answer phrase, whichever comes later
    (a phrase after a box counts only when it looks like math). Boxes that list one answer are joined (math_boxes)."""
    boxed = last_box_group_at(response)
    phrases = list(_PHRASE_RE.finditer(response))
    phrase = _clean_phrase(phrases[-1].group("rest")) if phrases else ""
    if boxed and boxed[1] and not (phrase and phrases[-1].start() > boxed[0] and _mathy(phrase)):
        return boxed[1], "box"
    return (phrase, "phrase") if phrase else None


def extract_math_answer(response: str) -> str | None:
    """The last stated final answer (box or phrase, see `_extract`); None when there is neither."""
    found = _extract(response)
    return found[0] if found else None


def _mv_parse(text: str) -> list:
    """math-verify's own extraction (LaTeX then expressions, its `parse` defaults) over a whole response."""
    from math_verify import parse

    t = _mv_timeout()
    text = blank_broken_inline(_END_PUNCT_RE.sub("", text))
    found = parse(text, parsing_timeout=t)
    stripped = text.strip()
    bare_latex = "\\" in stripped and "$" not in stripped and "\n" not in stripped and len(stripped) <= 200
    if not found and bare_latex:
        found = parse(f"${stripped}$", parsing_timeout=t)  # a bare `\\dfrac{3}{4}` has no delimiters to anchor on
    return list(found)


def gold_answer(gold: str) -> str:
    """A gold that is a full solution contributes its last box (or the boxes listing it); a bare gold is used as is."""
    boxed = last_box_group_at(gold)
    g = boxed[1] if boxed is not None else gold.strip()
    if len(g) >= 2 and g.startswith("$") and g.endswith("$"):
        g = g.strip("$").strip()
    return g


def _mv_timeout() -> int | None:
    """math-verify's signal timeouts only work in the main thread; elsewhere run without."""
    if USE_SIGNAL_TIMEOUTS and threading.current_thread() is threading.main_thread():
        return MV_TIMEOUT_S
    return None


def _simple_seq(s: str) -> tuple[str, list[tuple[Fraction, bool]]] | None:
    """(brackets, elements) for a set / interval / tuple whose elements are all plain numbers."""
    m = _SEQ_RE.fullmatch(s)
    if not m or (m.group(1) == "\\{") != (m.group(3) == "\\}"):
        return None
    vals = [simple_number(part) for part in m.group(2).split(",")]
    if any(v is None for v in vals):
        return None
    return m.group(1) + m.group(3), vals  # type: ignore[return-value]


def fast_equal(gold: str, pred: str) -> bool | None:
    """Decide without the LaTeX parser where math-verify's answer is certain; None = ask math-verify.

    Covered: identical normalized strings; two plain numbers (equal, or unequal and both exact);
    two sets of plain numbers; two same-length bracketed lists of plain numbers (tuples/intervals).
    ``tests/test_grading_math.py`` checks these verdicts against math-verify itself.
    """
    ng, np_ = norm(gold), norm(pred)
    if ng == np_:
        return True
    sg, sp = simple_number(ng), simple_number(np_)
    if sg is not None and sp is not None:
        if sg[0] == sp[0]:
            return True
        return False if sg[1] and sp[1] else None
    qg, qp = _simple_seq(ng), _simple_seq(np_)
    if qg is None or qp is None:
        return None
    (bg, vg), (bp, vp) = qg, qp
    exact = all(v[1] for v in vg + vp)
    if bg == bp == "\\{\\}":
        if {v[0] for v in vg} == {v[0] for v in vp}:
            return True
        return False if exact else None
    if "\\{\\}" in (bg, bp) or len(vg) != len(vp):
        return None
    if bg == bp:
        if all(a[0] == b[0] for a, b in zip(vg, vp, strict=True)):
            return True
        return False if exact else None
    # different brackets on two valid intervals: open and closed ends never match
    if len(vg) == 2 and exact and vg[0][0] < vg[1][0] and vp[0][0] < vp[1][0]:
        return False
    return None


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse_cached(answer: str, timeout_s: int | None) -> tuple:
    """math-verify parse of one extracted answer; golds and common answers repeat a lot across rows."""
    from math_verify import parse

    return tuple(parse(f"\\boxed{{{answer}}}", parsing_timeout=timeout_s))


def _mv_equal(gold: str, pred: str) -> bool:
    """Gold-first math-verify equivalence (after the parser-free fast paths of ``fast_equal``)."""
    fast = fast_equal(gold, pred)
    if fast is not None:
        return fast
    from math_verify import verify

    t = _mv_timeout()
    g = _parse_cached(gold, t)
    p = _parse_cached(pred, t)
    if not g or not p:
        return False
    return bool(verify(list(g), list(p), timeout_seconds=t))


def _numeric_value(answer: str) -> float | None:
    """The numeric value math-verify reads in ``answer`` (``\\frac{\\sqrt{3}}{2}``), None when it is not a number."""
    parsed = _parse_cached(answer, _mv_timeout())
    expr = parsed[0] if parsed else None
    if getattr(expr, "is_number", False) and not getattr(expr, "is_infinite", False):
        try:
            value = complex(expr.evalf(30))
        except (TypeError, ValueError):
            return None
        return value.real if value.imag == 0 else None
    return None


def _only_primes_differ(gold: str, pred: str) -> bool:
    """``E`` against ``E'``: the same letters but for a prime, which math-verify drops; they name different things."""
    g, p = norm(gold), norm(pred)
    return g != p and _PRIME_RE.sub("", g) == _PRIME_RE.sub("", p)


def math_equal(gold: str, pred: str) -> bool:
    """math-verify's verdict, then the answer forms it misjudges (``math_forms``): decimal comma, inequality
    against interval, decimals inside tuples / intervals / matrices, number spellings and fonts."""
    if _mv_equal(gold, pred):
        return not _only_primes_differ(gold, pred)
    return forms_equal(gold, pred)


def forms_equal(gold: str, pred: str) -> bool:
    """Equal under one of the ``math_forms`` rules (asked once math-verify has said "not equal")."""
    for rewrite in (decimal_comma, interval_pair, spellings):
        pair = rewrite(gold, pred)
        if pair is not None and _mv_equal(*pair):
            return True
    return approx_compound_equal(gold, pred, _mv_equal, _numeric_value)


def _grade_fallback(response: str, gold: str) -> Verdict:
    """No box and no phrase: grade what math-verify itself reads in the response, as bare math-verify would."""
    from math_verify import verify

    found = _mv_parse(response)
    if not found:
        return no_answer("no \\boxed{} answer, final-answer phrase, or expression math-verify can read")
    t = _mv_timeout()
    g = _parse_cached(gold, t)
    extracted = str(found[-1])
    correct = bool(g) and bool(verify(list(g), found, timeout_seconds=t))
    if not correct and isinstance(found[-1], str) and found[-1].strip():
        correct = forms_equal(gold, found[-1])  # the forms math-verify misjudges, on the text it extracted
    return ok(correct, extracted, "" if correct else f"not equivalent to gold {gold!r} (math-verify extraction)")


def _trim(answer: str) -> str:
    """An extracted answer without a dangling backslash (``185\\``), which no parser reads."""
    return _DANGLING_BACKSLASH_RE.sub("", answer).strip()


def bare_answer(response: str) -> str | None:
    """The whole response when it is nothing but a short one-line answer (``x^2 + 2*x + 1``, ``\\$10``, ``odd``).

    math-verify's extraction looks for LaTeX delimiters or numbers and misses such answers, or reads only a
    part of them (``1/2`` of ``918\\frac{1}{2}``); prose (two words in a row) or math delimiters rule this out.
    """
    text = response.strip()
    if not text or len(text) > BARE_ANSWER_MAX or "\n" in text or "$" in text.replace("\\$", ""):
        return None
    if re.search(r"\\[(\[]", text) or _PROSE_RE.search(re.sub(r"\\[a-zA-Z]+", " ", text)):
        return None
    return _trim(text) or None


def grade_math(response: str, gold: str, **_: object) -> Verdict:
    """Grade a math response against a gold answer or gold solution."""
    g = _trim(gold_answer(str(gold)))
    found = _extract(response)
    if not g:
        return Verdict(correct=None, extracted=found and found[0], status="error", reason="empty gold answer")
    if found is None:
        verdict = _grade_fallback(response, g)
        whole = bare_answer(response)
        if not verdict.correct and whole is not None and math_equal(g, whole):
            return ok(True, whole)
        return verdict
    pred, source = found
    correct = math_equal(g, _trim(pred))
    if not correct and source == "phrase":  # prose around the answer ("The largest $n$ is 34"): let math-verify read it
        fallback = _grade_fallback(pred, g)
        if fallback.correct:
            return fallback
    return ok(correct, pred, "" if correct else f"not equivalent to gold {g!r}")
