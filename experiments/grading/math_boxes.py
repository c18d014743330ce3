"""Finding ``\\boxed{}`` answers, and the boxes that together state one answer.

A response that boxes each member of a set or tuple list (``\\boxed{1}, \\boxed{2}``,
``\\boxed{(1, 2)} \\quad\\text{and}\\quad \\boxed{(6, 2)}``, ``y_1 = \\boxed{a} \\) and \\( y_2 = \\boxed{b}``) states
one answer in several boxes. We join such a run into one comma list, which math-verify reads as a set. A run ends
at a gap that reads as prose rather than a list: a sentence end, a blank line, a long stretch, or words of a
correction ("wait", "actually", "no", ...), so a response that corrects itself is still graded on its last box.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
GAP_MAX = 70  # longest text between two boxes of one answer
GAP_BARE_MAX = 8  # a gap this short needs no list word ("\\boxed{1}\\boxed{2}")
GROUP_MAX = 12
_LIST_SEP_RE = re.compile(r"[,;&]|\b(?:and|or)\b|\\q?quad(?![a-zA-Z])")
_PROSE_END_RE = re.compile(r"[.!?](?:\s|$)|\n\s*\n")
_CORRECTION_RE = re.compile(
    r"\b(?:wait|actually|no|not|sorry|oops|instead|rather|mistake|wrong|incorrect|correct(?:ed|ion)?|but|however|"
    r"hmm|check|recheck|verify|should)\b",
    re.IGNORECASE,
)
_DELIMS_RE = re.compile(r"\s+|\$|\\[()\[\]]")


class Box(NamedTuple):
    start: int  # index of the backslash
    end: int  # index just past the closing brace (or the bare token)
    content: str


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


def _box_at(text: str, m: re.Match) -> Box | None:
    """The box whose command ``m`` matched: ``\\boxed{...}`` or ``\\boxed 5``; None when unbalanced or empty."""
    i = m.end()
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "{":
        got = _braced(text, i)
        return Box(m.start(), got[1], got[0].strip()) if got is not None else None
    tok = re.match(r"[^\s$}]+", text[i:])
    if tok and tok.group(0).rstrip(".,;:"):
        return Box(m.start(), i + len(tok.group(0)), tok.group(0).rstrip(".,;:"))
    return None


def boxes(text: str) -> list[Box]:
    """Every well-formed box in ``text``, in order (a box nested in another is not listed separately)."""
    out: list[Box] = []
    for m in _BOX_RE.finditer(text):
        if out and m.start() < out[-1].end:
            continue
        box = _box_at(text, m)
        if box is not None:
            out.append(box)
    return out


def last_boxed_at(text: str) -> tuple[int, str] | None:
    """(position, content) of the last ``\\boxed{...}`` / ``\\fbox{...}`` / ``\\boxed 5`` in ``text``."""
    for m in reversed(list(_BOX_RE.finditer(text))):
        box = _box_at(text, m)
        if box is not None:
            return box.start, box.content
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` / ``\\boxed 5`` in ``text``."""
    found = last_boxed_at(text)
    return found[1] if found else None


def joins(gap: str) -> bool:
    """Does the text between two boxes read as a list separator rather than prose?"""
    if len(gap) > GAP_MAX or _PROSE_END_RE.search(gap) or _CORRECTION_RE.search(gap):
        return False
    return len(_DELIMS_RE.sub("", gap)) <= GAP_BARE_MAX or bool(_LIST_SEP_RE.search(gap))


def last_box_group_at(text: str) -> tuple[int, str] | None:
    """(position of the last box, answer): the last box joined with the boxes before it that list one answer.

    Repeated boxes (``\\boxed{5}, i.e. \\boxed{5}``) count once.
    """
    found = boxes(text)
    if not found or not found[-1].content:
        return last_boxed_at(text)
    run = [found[-1]]
    for prev in reversed(found[:-1]):
        if len(run) >= GROUP_MAX or not prev.content or not joins(text[prev.end : run[-1].start]):
            break
        run.append(prev)
    contents: list[str] = []
    for box in reversed(run):
        if box.content not in contents:
            contents.append(box.content)
    return found[-1].start, ", ".join(contents)
