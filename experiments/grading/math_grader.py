"""Math answers (MATH, MATH-500, DeepScaleR): extract the final answer ourselves, judge with math-verify.

We extract the last stated final answer ourselves (the later of the last ``\\boxed{}`` and the last
"final answer is" phrase, so a response that corrects itself is graded on its correction) and report
exactly what was graded. A response with neither (a bare ``42``, ``3,500``, ``\\dfrac{3}{4}`` or
``so it is $x = 2$``) falls back to math-verify's own extraction over the response (LaTeX, then
expressions, as its ``parse`` does); only a response math-verify cannot read either is ``no_answer``.
"""

from __future__ import annotations

import re
import threading
from fractions import Fraction
from functools import lru_cache

from experiments.grading.verdict import Verdict, no_answer, ok

# Set to False inside pool workers: they enforce their own wall-clock limit and math-verify's
# SIGALRM-based timeouts would clobber it.
USE_SIGNAL_TIMEOUTS = True
MV_TIMEOUT_S = 5

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_PHRASE_RE = re.compile(
    r"(?:final\s+answer\s*(?:is|:)|the\s+answer\s+is|\banswer\s*:)\s*(?P<rest>[^\n]+)",
    re.IGNORECASE,
)
_MATHY_RE = re.compile(r"\s*(?:[-+\u2212$\\(\[{0-9.]|[a-zA-Z]\s*(?:=|<|>|\\[lg]e))")  # starts like math
# sentence punctuation written inside the closing math delimiter ("$\\frac{1}{3}.$"); an ellipsis stays
_END_PUNCT_RE = re.compile(r"(?<![.\\])\s*[.,;:](?=\s*(?:\$|\\\]|\\\)))")
_WS_RE = re.compile(r"\s+|\\[,;:! ]|\\left|\\right")
_SIMPLE_RE = re.compile(r"(-?)(?:(\d+(?:\.\d+)?)|\\frac\{(\d+)\}\{(\d+)\}|(\d+)/(\d+))")
_SEQ_RE = re.compile(r"(\\\{|\(|\[)([^()\[\]{}]*)(\\\}|\)|\])")
PARSE_CACHE_SIZE = 4096


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """Content of the brace group opening at ``text[start]`` (nesting-aware), and the end index."""
    depth = 0
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif ch == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    return None


def last_boxed_at(text: str) -> tuple[int, str] | None:
    """(position, content) of the last ``\\boxed{...}`` / ``\\fbox{...}`` / ``\\boxed 5`` in ``text``."""
    for m in reversed(list(_BOX_RE.finditer(text))):
        i = m.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            got = _braced(text, i)
            if got is not None:
                return m.start(), got[0].strip()
            continue
        tok = re.match(r"[^\s$}]+", text[i:])
        if tok and tok.group(0).rstrip(".,;:"):
            return m.start(), tok.group(0).rstrip(".,;:")
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` / ``\\boxed 5`` in ``text``."""
    found = last_boxed_at(text)
    return found[1] if found else None


def _clean_phrase(rest: str) -> str:
    """Trim math delimiters and sentence punctuation around a phrase-style answer."""
    s = rest.strip()
    while nested := _PHRASE_RE.search(s):  # "Final Answer: The final answer is 7.78."
        s = nested.group("rest").strip()
    inner = last_boxed(s)
    if inner is not None:
        return inner
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
    (a phrase after a box counts only when it looks like math)."""
    boxed = last_boxed_at(response)
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
    text = _END_PUNCT_RE.sub("", text)
    found = parse(text, parsing_timeout=t)
    stripped = text.strip()
    bare_latex = "\\" in stripped and "$" not in stripped and "\n" not in stripped and len(stripped) <= 200
    if not found and bare_latex:
        found = parse(f"${stripped}$", parsing_timeout=t)  # a bare `\\dfrac{3}{4}` has no delimiters to anchor on
    return list(found)


def gold_answer(gold: str) -> str:
    """A gold that is a full solution contributes its last box; a bare gold is used as is."""
    boxed = last_boxed(gold)
    g = boxed if boxed is not None else gold.strip()
    if len(g) >= 2 and g.startswith("$") and g.endswith("$"):
        g = g.strip("$").strip()
    return g


def _norm(s: str) -> str:
    s = _WS_RE.sub("", s)
    return s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")


def _mv_timeout() -> int | None:
    """math-verify's signal timeouts only work in the main thread; elsewhere run without."""
    if USE_SIGNAL_TIMEOUTS and threading.current_thread() is threading.main_thread():
        return MV_TIMEOUT_S
    return None


def _simple_number(s: str) -> tuple[Fraction, bool] | None:
    """(value, exact) for a plain integer, decimal, ``a/b`` or ``\\frac{a}{b}`` (normalized form)."""
    m = _SIMPLE_RE.fullmatch(s)
    if not m or len(s) > 40:
        return None
    sign, num, fa, fb, sa, sb = m.groups()
    if num is not None:
        v, exact = Fraction(num), "." not in num
    else:
        a, b = (fa, fb) if fa is not None else (sa, sb)
        if int(b) == 0:
            return None
        v, exact = Fraction(int(a), int(b)), True
    return (-v if sign else v), exact


def _simple_seq(s: str) -> tuple[str, list[tuple[Fraction, bool]]] | None:
    """(brackets, elements) for a set / interval / tuple whose elements are all plain numbers."""
    m = _SEQ_RE.fullmatch(s)
    if not m or (m.group(1) == "\\{") != (m.group(3) == "\\}"):
        return None
    vals = [_simple_number(part) for part in m.group(2).split(",")]
    if any(v is None for v in vals):
        return None
    return m.group(1) + m.group(3), vals  # type: ignore[return-value]


def fast_equal(gold: str, pred: str) -> bool | None:
    """Decide without the LaTeX parser where math-verify's answer is certain; None = ask math-verify.

    Covered: identical normalized strings; two plain numbers (equal, or unequal and both exact);
    two sets of plain numbers; two same-length bracketed lists of plain numbers (tuples/intervals).
    ``tests/test_grading_math.py`` checks these verdicts against math-verify itself.
    """
    ng, np_ = _norm(gold), _norm(pred)
    if ng == np_:
        return True
    sg, sp = _simple_number(ng), _simple_number(np_)
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


def math_equal(gold: str, pred: str) -> bool:
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
    return ok(correct, extracted, "" if correct else f"not equivalent to gold {gold!r} (math-verify extraction)")


def grade_math(response: str, gold: str, **_: object) -> Verdict:
    """Grade a math response against a gold answer or gold solution."""
    g = gold_answer(str(gold))
    found = _extract(response)
    if not g:
        return Verdict(correct=None, extracted=found and found[0], status="error", reason="empty gold answer")
    if found is None:
        return _grade_fallback(response, g)
    pred, source = found
    correct = math_equal(g, pred)
    if not correct and source == "phrase":  # prose around the answer ("The largest $n$ is 34"): let math-verify read it
        fallback = _grade_fallback(pred, g)
        if fallback.correct:
            return fallback
    return ok(correct, pred, "" if correct else f"not equivalent to gold {g!r}")
