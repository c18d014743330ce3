"""View models of a guided run: token streams in two sources, consultation points and the (c, k) heat table.

Plain Python (no Textual): the TUI's Guided screen feeds `GuidedState.consume` with events from an `EventTail`
and renders the state on a timer; a plain terminal can print the same state. Streams are named
`c{c}k{k}/{example_id}#{sample_idx}`; the (c, k) grid fills from `artifact` events of kind `guided_cell`
(or, for a finished run, from the manifest summary's `grid`); a cell is the oracle alone when its summary has
`policy = "oracle_only"` (or `oracle_alone = true`, or no base tokens but oracle tokens). Only the latest
`max_streams` streams keep their tokens, so a long evaluation never grows the TUI without bound.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from experiments.runs.events import ArtifactEvent, Event, StatusEvent, TokenBatchEvent

MAX_STREAMS = 100
FOLLOW_IDLE_S = 2.0  # a followed stream with no tokens for this long (run time) is finished: move on
CELL_KIND = "guided_cell"
STREAM_RE = re.compile(r"^c(-?\d+)k(-?\d+)/(.*)#(\d+)$")
STAT_LABELS: dict[str, str] = {
    "entropy": "entropy (bits)",
    "varentropy": "varentropy (bits²)",
    "top1_p": "top-1 p",
    "top1_margin": "top-1 − top-2 p",
    "attn_entropy": "attention entropy",
    "attn_varentropy": "attention varentropy",
    "agreement": "head agreement",
    "interaction": "interaction strength",
}


@dataclass(frozen=True)
class StreamName:
    """The parts of a stream name; `None` fields when a stream does not follow the naming contract."""

    name: str
    c: int | None = None
    k: int | None = None
    example_id: str | None = None
    sample_idx: int | None = None

    @classmethod
    def parse(cls, name: str) -> StreamName:
        match = STREAM_RE.match(name)
        if not match:
            return cls(name)
        c, k, example_id, sample_idx = match.groups()
        return cls(name, int(c), int(k), example_id, int(sample_idx))

    @property
    def label(self) -> str:
        if self.c is None:
            return self.name
        return f"c={self.c} k={self.k}  {self.example_id} #{self.sample_idx}"

    @property
    def short(self) -> str:
        """For a narrow picker: breaks (if it must) between the cell and the example."""
        return self.name if self.c is None else f"c{self.c}k{self.k} {self.example_id}#{self.sample_idx}"


@dataclass(slots=True)
class GuidedToken:
    text: str
    source: str  # "base" | "oracle"
    position: int
    stats: dict[str, float]
    consult: bool  # the first token of an oracle segment: where the policy consulted the oracle


@dataclass(frozen=True)
class GridCell:
    c: int
    k: int
    n: int = 0
    correct: int = 0
    accuracy: float | None = None
    oracle_tokens: int = 0
    base_tokens: int = 0
    tokens_per_s: float | None = None
    oracle_alone: bool = False

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> GridCell:
        n, correct = int(summary.get("n") or 0), int(summary.get("correct") or 0)
        accuracy = summary.get("accuracy")
        if accuracy is None and n:
            accuracy = correct / n
        oracle_tokens, base_tokens = int(summary.get("oracle_tokens") or 0), int(summary.get("base_tokens") or 0)
        alone = (summary.get("policy") == "oracle_only" or bool(summary.get("oracle_alone"))
                 or (base_tokens == 0 and oracle_tokens > 0))
        rate = summary.get("tokens_per_s")
        return cls(int(summary.get("c") or 0), int(summary.get("k") or 0), n, correct,
                   None if accuracy is None else float(accuracy), oracle_tokens, base_tokens,
                   None if rate is None else float(rate), alone)

    @property
    def is_baseline(self) -> bool:
        return self.c == 0 and self.k == 0 and not self.oracle_alone


@dataclass
class GuidedState:
    """Reduced from a guided run's events. `version` grows with every change, so a screen redraws only then."""

    max_streams: int = MAX_STREAMS
    streams: dict[str, list[GuidedToken]] = field(default_factory=dict)  # in order of first tokens
    grid: dict[tuple[int, int], GridCell] = field(default_factory=dict)
    oracle_alone: GridCell | None = None
    status: str = ""
    tokens_seen: int = 0
    version: int = 0
    grid_version: int = 0
    pinned: str | None = None  # the stream a reader has selected: never dropped
    latest: str | None = None  # the stream that received the last tokens
    updated: dict[str, float] = field(default_factory=dict)  # stream -> ts of its last tokens
    last_ts: float = 0.0  # ts of the newest tokens of the run
    _touched: dict[str, int] = field(default_factory=dict, repr=False)

    def consume(self, event: Event) -> None:
        if isinstance(event, TokenBatchEvent):
            self.updated[event.stream] = event.ts
            self.last_ts = max(self.last_ts, event.ts)
            self._add_tokens(event.stream, event.tokens)
        elif isinstance(event, ArtifactEvent) and event.kind == CELL_KIND:
            self.add_cell(event.summary)
        elif isinstance(event, StatusEvent):
            self.status = event.status
            self.version += 1

    def consume_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.consume(event)

    def _add_tokens(self, stream: str, pieces: Iterable[Any]) -> None:
        self._touched[stream] = self.version  # before evicting: a new stream is the most recent one
        tokens = self.streams.get(stream)
        if tokens is None:
            tokens = self.streams[stream] = []
            self._evict()
        for piece in pieces:
            if tokens and piece.position <= tokens[-1].position:  # a resumed run replays: restart from there
                del tokens[self._index_of(tokens, piece.position):]
            previous = tokens[-1].source if tokens else "base"
            stats = dict(piece.stats)
            consult = stats.get("consult", 0.0) >= 0.5 or (piece.source == "oracle" and previous != "oracle")
            tokens.append(GuidedToken(piece.text, piece.source, piece.position, stats, consult))
            self.tokens_seen += 1
        self.latest = stream
        self.version += 1

    @staticmethod
    def _index_of(tokens: list[GuidedToken], position: int) -> int:
        for i, token in enumerate(tokens):
            if token.position >= position:
                return i
        return len(tokens)

    def _evict(self) -> None:
        while len(self.streams) > self.max_streams:
            candidates = [s for s in self.streams if s != self.pinned]
            if not candidates:
                return
            oldest = min(candidates, key=lambda s: self._touched.get(s, -1))  # least recently updated
            del self.streams[oldest]
            self._touched.pop(oldest, None)
            self.updated.pop(oldest, None)

    def add_cell(self, summary: Mapping[str, Any]) -> None:
        cell = GridCell.from_summary(summary)
        if cell.oracle_alone:
            self.oracle_alone = cell
        else:
            self.grid[(cell.c, cell.k)] = cell
        self.version += 1
        self.grid_version += 1

    def load_grid(self, cells: Iterable[Mapping[str, Any]]) -> None:
        """Cells from `outputs/grid.json` or the manifest summary's `grid` (a finished run)."""
        for summary in cells:
            self.add_cell(summary)

    # -- reading -------------------------------------------------------------------------------------------
    def stream_names(self) -> list[str]:
        return list(self.streams)

    def follow_target(self, current: str | None, idle_s: float = FOLLOW_IDLE_S) -> str | None:
        """The stream to show while following a run: the current one while it is still being written (tokens
        within `idle_s` of the run's newest), else the newest stream written in that window. A batch writes
        many sequences at once; jumping to whichever got the last tokens would flicker between them."""
        if not self.streams:
            return None
        if current in self.streams and self.last_ts - self.updated.get(current, 0.0) <= idle_s:
            return current
        active = [s for s in self.streams if self.last_ts - self.updated.get(s, 0.0) <= idle_s]
        return active[-1] if active else self.latest

    def tokens(self, stream: str | None) -> list[GuidedToken]:
        return self.streams.get(stream or "", [])

    def consultations(self, stream: str | None) -> list[int]:
        """Indexes (into `tokens(stream)`) of the consultation points."""
        return [i for i, token in enumerate(self.tokens(stream)) if token.consult]

    def text(self, stream: str | None) -> str:
        return "".join(token.text for token in self.tokens(stream))

    def counts(self, stream: str | None) -> tuple[int, int]:
        """(base tokens, oracle tokens) of a stream."""
        tokens = self.tokens(stream)
        oracle = sum(1 for token in tokens if token.source == "oracle")
        return len(tokens) - oracle, oracle


def format_stat(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.4g}"


def token_rows(token: GuidedToken, index: int) -> list[tuple[str, str]]:
    """(label, value) rows describing one token for a side pane: known statistics first, in a fixed order."""
    rows = [("token", repr(token.text)), ("index", str(index)), ("position", str(token.position)),
            ("source", token.source), ("consultation", "yes" if token.consult else "no")]
    rows += [(label, format_stat(token.stats[key])) for key, label in STAT_LABELS.items() if key in token.stats]
    rows += [(key, format_stat(value)) for key, value in sorted(token.stats.items())
             if key not in STAT_LABELS and key != "consult"]
    return rows


@dataclass(frozen=True)
class HeatTable:
    """The grid as rows c x columns k; `heat` maps an accuracy to 0..1 over the table's range (oracle included)."""

    cs: list[int]
    ks: list[int]
    cells: dict[tuple[int, int], GridCell]
    oracle_alone: GridCell | None
    low: float
    high: float

    def heat(self, accuracy: float | None) -> float | None:
        if accuracy is None:
            return None
        if self.high <= self.low:
            return 0.5
        return (accuracy - self.low) / (self.high - self.low)

    def label(self, c: int, k: int) -> str:
        cell = self.cells.get((c, k))
        if cell is None:
            return ""
        return cell_label(cell)


def cell_label(cell: GridCell) -> str:
    text = "…" if cell.accuracy is None else f"{cell.accuracy:.1%}"
    if cell.oracle_alone:
        return f"★ {text}"
    return f"◆ {text}" if cell.is_baseline else text


def heat_table(state: GuidedState) -> HeatTable:
    cells = dict(state.grid)
    accuracies = [c.accuracy for c in cells.values() if c.accuracy is not None]
    if state.oracle_alone is not None and state.oracle_alone.accuracy is not None:
        accuracies.append(state.oracle_alone.accuracy)
    return HeatTable(sorted({c for c, _ in cells}), sorted({k for _, k in cells}), cells, state.oracle_alone,
                     min(accuracies, default=0.0), max(accuracies, default=0.0))


def heat_lines(table: HeatTable) -> list[str]:
    """The heat table as plain text (for a terminal or a log), accuracy per (c, k)."""
    if not table.cells and table.oracle_alone is None:
        return ["(no grid cell finished yet)"]
    lines = ["c \\ k " + "".join(f"{k:>10}" for k in table.ks)]
    for c in table.cs:
        lines.append(f"{c:>5} " + "".join(f"{table.label(c, k):>10}" for k in table.ks))
    if table.oracle_alone is not None:
        lines.append(f"oracle alone {cell_label(table.oracle_alone)}")
    lines.append("◆ (0, 0) = base alone   ★ = oracle alone")
    return lines
