"""Multiple choice (MedQA, GPQA): find the final chosen letter, or an option's text.

Explicit final statements ("Answer: C", ``\\boxed{C}``, ``**C**``) are searched first and the last
one wins, so a response that corrects itself is graded on its correction. A quoted letter
("Answer: 'C'") counts, and so does a lower-case one when it stands alone ("the answer is c.", "(b)"),
never the article in "the answer is a bit longer". Weaker cues ("option C", a reply that starts with a
letter, an option's text on the last line) are fallbacks, because long analyses mention every option.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from experiments.grading.verdict import Verdict, error, no_answer, ok

DEFAULT_LETTERS = "ABCDE"

_PHRASE_RE = re.compile(
    r"(?:final\s+answer|\banswer|correct\s+(?:option|choice)|best\s+(?:option|choice)"
    r"|\bI\s+(?:would\s+|will\s+|'d\s+)?(?:choose|pick|select|go\s+with))"
    r"(?:\s*(?:is|would\s+be|will\s+be|should\s+be|:|-|=|\u2014))*\s*(?P<tail>[^\n]*)",
    re.IGNORECASE,
)
_BOXED_RE = re.compile(r"\\boxed\s*\{(?P<tail>(?:[^{}]|\{[^{}]*\})*)\}")
_BOLD_RE = re.compile(r"\*\*\s*\(?(?P<letter>[A-Z])\)?[.):]?\s*\*\*|\*\*\s*\(?(?P<lead>[A-Z])[.):]\s")
_OPTION_RE = re.compile(r"\b(?:option|choice)\s+\(?(?P<letter>[A-Z])\)?(?![A-Za-z0-9])", re.IGNORECASE)
_START_RE = re.compile(r"^\s*\(?(?P<letter>[A-Z])(?:\)|\.|:|,|\s*$|\s+-|\s)")
_QUOTES = "\"'\u2018\u2019\u201c\u201d"
_Q = f"[{_QUOTES}]"  # one quote character, as a regex class
_LEAD_RE = re.compile(
    r"^(?:\s|\*|\$|`|" + _Q + r"|\\boxed\s*\{|\\text(?:bf)?\s*\{|\\mathrm\s*\{|\{|:|-|"
    r"(?:option|choice|letter|either|both)\b)*",
    re.IGNORECASE,
)
_LETTER_RE = re.compile(r"(?P<open>\(?)(?P<l>[A-Za-z])(?P<close>\)?)(?P<q>" + _Q + r"?)(?![A-Za-z0-9'])")
_ALONE_RE = re.compile(r"\s*(?:$|[.,;:!?)\]*`$]|" + _Q + ")")  # a lower-case letter must stand alone
_MORE_RE = re.compile(
    r"\s*(?:,|and|or|&|/|\+)\s*(?:(?:option|choice)\s+)?\(?(?P<l>[A-Z])\)?(?![A-Za-z0-9'])", re.IGNORECASE
)


def normalize_options(options: object) -> dict[str, str]:
    """Options as {letter: text}, from a dict, or a list (A, B, ... in order)."""
    if isinstance(options, Mapping):
        return {str(k).strip().upper(): str(v) for k, v in options.items()}
    if isinstance(options, Sequence) and not isinstance(options, str):
        return {chr(ord("A") + i): str(v) for i, v in enumerate(options)}
    return {}


def _norm_text(s: str) -> str:
    return re.sub(r"[\s.*`$]+", " ", s).strip().lower()


def _letters_in_tail(tail: str, allowed: str) -> list[str]:
    """Letters chosen at the start of a final statement: 'A', '(B) text', 'A and C' -> ['A','C']."""
    rest = tail[_LEAD_RE.match(tail).end() :]
    m = _LETTER_RE.match(rest)
    if not m or m.group("l").upper() not in allowed:
        return []
    marked = m.group("open") or m.group("close") or m.group("q")
    if m.group("l").islower() and not (marked or _ALONE_RE.match(rest, m.end())):
        return []
    out = [m.group("l").upper()]
    pos = m.end()
    while True:
        more = _MORE_RE.match(rest, pos)
        if not more or more.group("l").upper() not in allowed or not more.group("l").isupper():
            break
        out.append(more.group("l"))
        pos = more.end()
    return out


def _match_text(text: str, options: dict[str, str]) -> str | None:
    """The single option whose text appears in ``text`` (None if zero or several do)."""
    t = f" {_norm_text(text)} "
    hits = [k for k, v in options.items() if _norm_text(v) and f" {_norm_text(v)} " in t]
    if len(hits) == 1:
        return hits[0]
    exact = [k for k, v in options.items() if _norm_text(v) == _norm_text(text)]
    return exact[0] if len(exact) == 1 else None


def extract_choice(response: str, options: dict[str, str]) -> list[str]:
    """Chosen letters of the last final statement; [] when none found."""
    allowed = "".join(options) if options else DEFAULT_LETTERS
    strong: list[tuple[int, list[str]]] = []
    for m in _PHRASE_RE.finditer(response):
        letters = _letters_in_tail(m.group("tail"), allowed)
        if not letters and options:
            hit = _match_text(m.group("tail"), options)
            letters = [hit] if hit else []
        if letters:
            strong.append((m.start(), letters))
    for m in _BOXED_RE.finditer(response):
        letters = _letters_in_tail(m.group("tail"), allowed)
        if letters:
            strong.append((m.start(), letters))
    for m in _BOLD_RE.finditer(response):
        letter = m.group("letter") or m.group("lead")
        if letter in allowed:
            strong.append((m.start(), [letter]))
    if strong:
        return max(strong, key=lambda x: x[0])[1]
    weak = [m.group("letter").upper() for m in _OPTION_RE.finditer(response)]
    weak = [w for w in weak if w in allowed]
    if weak:
        return [weak[-1]]
    stripped = response.strip()
    only = re.fullmatch(_Q + r"?\(?([A-Za-z])\)?" + _Q + r"?[.):]?", stripped)  # the reply is one letter
    if only and only.group(1).upper() in allowed:
        return [only.group(1).upper()]
    m = _START_RE.match(stripped)
    if m and m.group("letter") in allowed:
        return [m.group("letter")]
    if options:
        lines = [ln for ln in stripped.splitlines() if ln.strip()]
        if lines:
            hit = _match_text(lines[-1], options)
            if hit:
                return [hit]
    return []


def gold_letter(gold: object, options: dict[str, str]) -> str | None:
    """Gold as a letter: 'C', '(C)', 'C.' or an option's text."""
    s = str(gold).strip()
    m = re.fullmatch(r"\(?([A-Za-z])\)?[.):]?", s)
    if m and (not options or m.group(1).upper() in options):
        return m.group(1).upper()
    if options:
        exact = [k for k, v in options.items() if _norm_text(v) == _norm_text(s)]
        if len(exact) == 1:
            return exact[0]
    return None


def grade_mc(response: str, gold: object, options: object = None, **_: object) -> Verdict:
    """Grade a multiple-choice response; several distinct final choices count as wrong."""
    opts = normalize_options(options)
    g = gold_letter(gold, opts)
    if g is None:
        return error(f"gold {str(gold)[:60]!r} is not a letter or an option's text")
    letters = list(dict.fromkeys(extract_choice(response, opts)))
    if not letters:
        return no_answer("no choice found")
    if len(letters) > 1:
        return ok(False, ", ".join(letters), f"multiple choices in final answer: {', '.join(letters)}")
    correct = letters[0] == g
    return ok(correct, letters[0], "" if correct else f"chose {letters[0]}, gold {g}")
