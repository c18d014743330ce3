"""Printing a guided answer in a plain terminal: base tokens red, oracle tokens blue (ANSI), a legend first.

Token text is model output: control characters other than newline and tab are shown escaped, so a model cannot
move the cursor or recolour the terminal.
"""

from __future__ import annotations

import os
import unicodedata
from typing import Any, TextIO

COLORS = {"base": "\033[31m", "oracle": "\033[34m"}
DIM, RESET = "\033[2m", "\033[0m"


def sanitize(text: str) -> str:
    return "".join(ch if ch in "\n\t" or unicodedata.category(ch) != "Cc" else repr(ch)[1:-1] for ch in text)


class Painter:
    def __init__(self, out: TextIO, verbose: bool = False, color: str = "auto") -> None:
        self.out, self.verbose = out, verbose
        tty = hasattr(out, "isatty") and out.isatty() and os.environ.get("NO_COLOR") is None
        self.color = color == "always" or (color == "auto" and tty)

    def _paint(self, text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if self.color else text

    def legend(self) -> None:
        self.out.write(f"{self._paint('base', COLORS['base'])} / {self._paint('oracle', COLORS['oracle'])}\n\n")
        self.out.flush()

    def pieces(self, pieces: list[Any]) -> None:
        parts = []
        for p in pieces:
            if self.verbose and p.stats.get("consult"):
                st = p.stats
                note = f"[consult @{p.position}: H={st.get('entropy', float('nan')):.2f} " \
                       f"V={st.get('varentropy', float('nan')):.2f} p1={st.get('top1_p', float('nan')):.2f}]"
                parts.append(self._paint(note, DIM))
            parts.append(self._paint(sanitize(p.text), COLORS.get(p.source, "")))
        self.out.write("".join(parts))
        self.out.flush()

    def end(self, seq: Any, timings: Any) -> None:
        self.out.write("\n")
        if self.verbose:
            self.out.write(f"\n{seq.base_tokens} base + {seq.oracle_tokens} oracle tokens, {seq.consultations} "
                           f"consultations at {seq.cheat_positions}, {seq.finish_reason}, "
                           f"{timings.wall_s:.2f}s (base {timings.base_s:.2f}s, oracle {timings.oracle_s:.2f}s)\n")
        self.out.flush()
