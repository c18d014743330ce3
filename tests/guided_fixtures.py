"""Synthetic guided runs: the events a guided worker emits (token batches, grid cells), written with the real
Emitter into real run folders, so views and screens are tested against the event contract without a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.runs.emit import Emitter
from experiments.runs.events import TokenPiece
from tests.tui_fixtures import BASE_TS, make_run

WORDS = ("Let", " x", " be", " the", " number", ".", " Then", " 2x", " =", " 10", ",", " so", " x", " =", " 5",
         ".", " The", " answer", " is", " 5", ".")


def stream_name(c: int, k: int, example: int, sample: int = 0) -> str:
    return f"c{c}k{k}/math-test-{example:06d}#{sample}"


def pieces(start: int, n: int, oracle_at: tuple[int, ...] = (), k: int = 3) -> list[TokenPiece]:
    """Tokens at positions start..start+n-1; an oracle segment of k tokens starts at every position in
    `oracle_at` (its first token carries consult=1). Statistics are simple functions of the position."""
    out = []
    for pos in range(start, start + n):
        seg = next((p for p in oracle_at if p <= pos < p + k), None)
        stats = {"entropy": round(0.1 * pos, 4), "varentropy": round(0.05 * pos + 0.01, 4),
                 "top1_p": round(1.0 / (1 + pos), 4), "top1_margin": 0.25}
        if seg == pos:
            stats["consult"] = 1.0
        out.append(TokenPiece(text=WORDS[pos % len(WORDS)], source="oracle" if seg is not None else "base",
                              position=pos, stats=stats))
    return out


def cell(c: int, k: int, correct: int, n: int = 10, **extra: Any) -> dict[str, Any]:
    return {"c": c, "k": k, "n": n, "correct": correct, "accuracy": correct / n, "oracle_tokens": c * k * n,
            "base_tokens": 100 * n, "tokens_per_s": 250.0, **extra}


def make_guided_run(home: Path, run_id: str = "guided-20260528-210000-gggg", status: str = "running",
                    created: float = BASE_TS + 300) -> tuple[Any, Emitter]:
    """A running guided run with one stream started (positions 0..7, a consultation at 3)."""
    store = make_run(home, run_id, stage="guided", status=status, created=created, title="guided: math x10",
                     progress=(1, 10))
    emitter = Emitter(store.events_path, run_id)
    emitter.tokens(stream_name(5, 3, 0), pieces(0, 8, oracle_at=(3,)), force=True)
    emitter.artifact("outputs/grid.json", "guided_cell", cell(0, 0, 2))
    return store, emitter
