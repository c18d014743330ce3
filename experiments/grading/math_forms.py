"""Answer forms math-verify compares wrongly on its own, rewritten or compared here (its core judges the rest).

Each rule is tried only after math-verify said "not equal", and only on the shape it names:

- decimal comma: ``1,22`` against ``1.22``. A comma between digits is read as a decimal point only when the
  other side is a plain decimal written with a point and the comma cannot be a thousands separator (not exactly
  three digits after it, or a leading ``0`` before it: ``1,22``, ``1000,99``, ``0,111``; never ``1,222``);
- inequality against interval: ``-2 \\le x \\le 7`` (or ``x > 3``) against ``x \\in [-2, 7]`` / ``[-2, 7]``: the
  inequality on one variable is rewritten as the interval it describes;
- decimals inside tuples, intervals and matrices: ``(0.6, 2.6667]`` against ``(\\frac35, \\frac83]``. Same brackets
  and shape; an element written as a decimal with k >= 2 places matches an exact gold element it rounds to at k
  places (an element with one place must be exact). A scalar keeps math-verify's rule, so ``0.33`` is not 1/3;
- number spellings math-verify reads as something else: digit groups joined by LaTeX's ``,\\!`` or ``{,}``
  (``56,\\!01,\\!78,\\!760``, any grouping) are one number; an integer, a space and a proper fraction
  (``3128 1/2``) is a mixed number;
- font commands around an answer (``\\mathcal{B}``, ``\\mathbf{v}``; not ``\\mathbb``, which names a set) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

_WS_RE = re.compile(r"\\\\|\s+|\\[,;:! ]|\\(?:left|right)(?![a-zA-Z])")  # a row break "\\\\" is kept
_SIMPLE_RE = re.compile(r"(-?)(?:(\d+(?:\.\d+)?)|\\frac\{(\d+)\}\{(\d+)\}|(\d+)/(\d+))")
_DECIMAL_RE = re.compile(r"-?\d*\.(\d+)")


def norm(s: str) -> str:
    """Spacing and sizing commands removed, fraction variants unified: a key for plain-string comparisons."""
    s = _WS_RE.sub(lambda m: m.group(0) if m.group(0) == "\\\\" else "", s)
    return s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")


def simple_number(s: str) -> tuple[Fraction, bool] | None:
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


# --- decimal comma --------------------------------------------------------------------------------------------

_COMMA_NUMBER_RE = re.compile(r"-?\d+,\d+")
_THOUSANDS_RE = re.compile(r"-?[1-9]\d{0,2}(?:,\d{3})+")
_POINT_NUMBER_RE = re.compile(r"-?\d*\.\d+")


def decimal_comma(gold: str, pred: str) -> tuple[str, str] | None:
    """(gold, pred) with a decimal comma read as a point, when the other side says so; None when not applicable."""
    g, p = gold.strip().strip("$").strip(), pred.strip().strip("$").strip()  # "1, 5" (a list) stays a list

    def reads_as_decimal(x: str, other: str) -> bool:
        return bool(_COMMA_NUMBER_RE.fullmatch(x) and not _THOUSANDS_RE.fullmatch(x)
                    and _POINT_NUMBER_RE.fullmatch(other))

    if reads_as_decimal(g, p):
        return g.replace(",", "."), p
    if reads_as_decimal(p, g):
        return g, p.replace(",", ".")
    return None


# --- number spellings and fonts --------------------------------------------------------------------------------

_LATEX_GROUPS_RE = re.compile(r"-?\d+(?:(?:,\\!|\{,\})\d+)+")
_MIXED_RE = re.compile(r"(-?)(\d+)\s+(\d+)\s*/\s*(\d+)")
_FONT_RE = re.compile(r"\\(?:mathcal|mathbf|mathit|mathsf|boldsymbol|bm)\s*\{([^{}]*)\}")


def _spelled(s: str) -> str:
    """One answer with LaTeX digit groups, a mixed number or a font command rewritten; unchanged otherwise."""
    t = s.strip()
    if _LATEX_GROUPS_RE.fullmatch(t):
        return t.replace(",\\!", "").replace("{,}", "")
    m = _MIXED_RE.fullmatch(t)
    if m and int(m.group(3)) < int(m.group(4)):
        sign, whole, num, den = m.groups()
        return f"{sign}\\frac{{{int(whole) * int(den) + int(num)}}}{{{den}}}"
    return _FONT_RE.sub(r"\1", t)


def spellings(gold: str, pred: str) -> tuple[str, str] | None:
    """(gold, pred) with number spellings and font commands rewritten; None when neither side changes."""
    g, p = _spelled(gold), _spelled(pred)
    return (g, p) if (g, p) != (gold.strip(), pred.strip()) else None


# --- inequality as interval ------------------------------------------------------------------------------------

_REL_RE = re.compile(r"<=|>=|<|>|\u2264|\u2265|\\+(?:leqslant|geqslant|leq|geq|le|ge|lt|gt)(?![a-zA-Z])")
_VAR_RE = re.compile(r"[a-zA-Z](?:_\{?\w+\}?)?")
_INTERVALISH_RE = re.compile(r"\\in(?![a-zA-Z])|\\cup|^[(\[]|^\\left[(\[]")


def _rel(op: str) -> tuple[str, bool]:
    """('<' or '>', inclusive) for one relation token."""
    o = op.lstrip("\\")
    less = o.startswith(("<", "\u2264", "le", "lt"))
    inclusive = o in ("<=", ">=", "\u2264", "\u2265") or o.startswith(("leq", "geq")) or o in ("le", "ge")
    return ("<" if less else ">"), inclusive


def inequality_interval(s: str) -> str | None:
    """The interval an inequality on one variable describes (``-2 \\le x < 7`` -> ``[-2, 7)``); None otherwise."""
    text = s.strip().strip("$").strip()
    ops = list(_REL_RE.finditer(text))
    if not 1 <= len(ops) <= 2:
        return None
    parts = [text[: ops[0].start()]] + [text[a.end() : b.start()] for a, b in zip(ops, ops[1:], strict=False)]
    parts = [p.strip() for p in parts + [text[ops[-1].end() :]]]
    if any(not p for p in parts):
        return None
    rels = [_rel(m.group(0)) for m in ops]
    if len(ops) == 2:
        if not _VAR_RE.fullmatch(parts[1]) or rels[0][0] != rels[1][0]:
            return None
        lo, hi, (lo_inc, hi_inc) = parts[0], parts[2], (rels[0][1], rels[1][1])
        if rels[0][0] == ">":
            lo, hi, lo_inc, hi_inc = hi, lo, hi_inc, lo_inc
        return f"{'[' if lo_inc else '('}{lo}, {hi}{']' if hi_inc else ')'}"
    (direction, inc), (left, right) = rels[0], parts
    if _VAR_RE.fullmatch(left) and not _VAR_RE.fullmatch(right):
        bound, var_is_less = right, direction == "<"
    elif _VAR_RE.fullmatch(right) and not _VAR_RE.fullmatch(left):
        bound, var_is_less = left, direction == ">"
    else:
        return None
    if var_is_less:
        return f"(-\\infty, {bound}{']' if inc else ')'}"
    return f"{'[' if inc else '('}{bound}, \\infty)"


def interval_pair(gold: str, pred: str) -> tuple[str, str] | None:
    """(gold, pred) with the inequality side rewritten as an interval, when the other side is interval-like."""
    for x, y, x_first in ((gold, pred, True), (pred, gold, False)):
        as_interval = inequality_interval(x)
        if as_interval is not None and _INTERVALISH_RE.search(norm(y)) and inequality_interval(y) is None:
            return (as_interval, y) if x_first else (y, as_interval)
    return None


# --- decimals inside tuples, intervals and matrices ------------------------------------------------------------

_MATRIX_RE = re.compile(r"\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}", re.DOTALL)


class Compound(NamedTuple):
    kind: str  # "matrix" or the bracket pair of a tuple / interval, e.g. "(]"
    cells: tuple[tuple[str, ...], ...]


def _split_top(s: str, sep: str) -> list[str]:
    """Split at ``sep`` outside (), [], {} (``\\{`` counts as a brace)."""
    out, depth, cur, i = [], 0, [], 0
    while i < len(s):
        if s.startswith(sep, i) and depth == 0:
            out.append("".join(cur))
            cur, i = [], i + len(sep)
            continue
        ch = s[i]
        depth += ch in "([{"
        depth -= ch in ")]}"
        cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def _closes_at_end(s: str) -> bool:
    """Does the bracket opening at s[0] close at the last character (so ``(1,2),(3,4)`` is not one tuple)?"""
    depth = 0
    for i, ch in enumerate(s):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0:
            return i == len(s) - 1
    return False


def compound(s: str) -> Compound | None:
    """A matrix, or a bracketed tuple / interval of two or more elements; None for anything else."""
    t = norm(s)
    while t.startswith("(") and t.endswith(")") and _closes_at_end(t) and _MATRIX_RE.fullmatch(t[1:-1]):
        t = t[1:-1]  # "(\\begin{pmatrix}...\\end{pmatrix})"
    m = _MATRIX_RE.fullmatch(t)
    if m:
        rows = [r for r in _split_top(m.group(2), "\\\\") if r]
        return Compound("matrix", tuple(tuple(_split_top(r, "&")) for r in rows)) if rows else None
    if len(t) < 5 or t[0] not in "([" or t[-1] not in ")]" or not _closes_at_end(t):
        return None
    cells = _split_top(t[1:-1], ",")
    return Compound(t[0] + t[-1], (tuple(cells),)) if len(cells) >= 2 and all(cells) else None


def _value(cell: str, numeric: Callable[[str], float | None]) -> float | None:
    got = simple_number(cell)
    return float(got[0]) if got is not None else numeric(cell)


def rounds_to(pred_cell: str, gold_value: float) -> bool:
    """Is the decimal ``pred_cell`` the gold value rounded at the places it writes (two or more places)?"""
    m = _DECIMAL_RE.fullmatch(pred_cell)
    if m is None:
        return False
    places = len(m.group(1))
    p = float(pred_cell)
    if p == gold_value:
        return True
    return places >= 2 and abs(p - gold_value) <= 0.5 * 10.0**-places * (1 + 1e-9)


def approx_compound_equal(
    gold: str, pred: str, equal: Callable[[str, str], bool], numeric: Callable[[str], float | None]
) -> bool:
    """Same compound shape, decimals in ``pred`` matching gold at their written places, other cells ``equal``."""
    g, p = compound(gold), compound(pred)
    if g is None or p is None or g.kind != p.kind or len(g.cells) != len(p.cells):
        return False
    if any(len(a) != len(b) for a, b in zip(g.cells, p.cells, strict=True)):
        return False
    pairs = [(a, b) for ga, pa in zip(g.cells, p.cells, strict=True) for a, b in zip(ga, pa, strict=True)]
    if not any(_DECIMAL_RE.fullmatch(b) for _, b in pairs):
        return False
    for a, b in pairs:
        if _DECIMAL_RE.fullmatch(b):
            value = _value(a, numeric)
            if value is not None and rounds_to(b, value):
                continue
        if not equal(a, b):
            return False
    return True


# --- inline math split over lines ------------------------------------------------------------------------------

_PAREN_SPAN_RE = re.compile(r"\\\(((?:(?!\\\)).)*?)\\\)", re.DOTALL)
_SINGLE_DOLLAR_RE = re.compile(r"(?<![\\$])\$(?!\$)")


def blank_broken_inline(text: str) -> str:
    """Blank inline math that is split over lines (``$ \\n 9 \\n $``, ``\\( \\n 9 \\n \\)``).

    Inline math cannot hold a line break for math-verify's LaTeX reader, so such a span states no answer; without
    this its expression fallback would still read the bare ``9`` inside. For ``$`` (also a currency sign) only a
    span whose line break comes right after the opening or right before the closing ``$`` is blanked.
    """
    text = _PAREN_SPAN_RE.sub(lambda m: " " if "\n" in m.group(1) else m.group(0), text)
    marks = [m.start() for m in _SINGLE_DOLLAR_RE.finditer(text)]
    out, last = [], 0
    for a, b in zip(marks[::2], marks[1::2], strict=False):
        inner = text[a + 1 : b]
        if "\n" in inner and (inner.lstrip(" \t").startswith("\n") or inner.rstrip(" \t").endswith("\n")):
            out.append(text[last:a] + " ")
            last = b + 1
    return "".join(out) + text[last:]
