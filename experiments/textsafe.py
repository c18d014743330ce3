"""Make text from datasets and models inert before it reaches a terminal.

A question, a gold answer or a model response can hold terminal control sequences: `ESC[2J` clears the operator's
screen, `ESC]0;...BEL` retitles the window, `ESC]8;;url` plants a hyperlink, a bare CR overwrites the line. A terminal
only acts on such sequences when their control characters arrive raw, so every C0/C1 control character except
newline and tab is shown as a visible stand-in: C0 as its Unicode control picture (ESC -> ␛, BEL -> ␇, CR -> ␍),
DEL as ␡, C1 (0x80-0x9f, e.g. the one-byte CSI 0x9b) as `\\x9b`. The rest of a sequence stays as plain text
(`␛[2J`), so the operator sees what the data held and nothing is interpreted. Bidirectional overrides (the
"Trojan Source" characters) are shown as `\\u202e` so they cannot reorder what is displayed.

Every CLI path and TUI widget that prints dataset or model text goes through `inert` (one helper, no Textual).
"""

from __future__ import annotations

import re

_UNSAFE_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control pictures block: ␀ .. ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    if code <= 0x9F:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def inert(text: object) -> str:
    """`text` as a string in which no character is a terminal control (newline and tab are kept)."""
    s = text if isinstance(text, str) else str(text)
    return _UNSAFE_RE.sub(_visible, s)


def is_inert(text: str) -> bool:
    """True when `text` holds nothing a terminal would interpret (for tests and assertions)."""
    return _UNSAFE_RE.search(text) is None
