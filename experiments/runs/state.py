"""Readers' side of the event protocol: a plain-Python `RunState` reduced from events (no Textual).

The TUI renders a `RunState` on a timer and the CLI prints one; both feed it with `EventTail`, which reads only
the bytes appended since the last poll.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from experiments.runs.events import (
    ArtifactEvent,
    ChunkEvent,
    Event,
    ItemErrorEvent,
    LogEvent,
    MetricEvent,
    ProgressEvent,
    StatusEvent,
    TokenBatchEvent,
    TokenPiece,
    parse_event,
)

LOG_TAIL = 200
RATE_WINDOW = 30.0  # seconds
TOKEN_TAIL = 5000


@dataclass
class RunState:
    run_id: str = ""
    status: str = "queued"
    status_message: str = ""
    done: int = 0
    total: int | None = None
    unit: str = "items"
    rate: float | None = None
    started_ts: float | None = None
    last_ts: float | None = None
    logs: deque[LogEvent] = field(default_factory=lambda: deque(maxlen=LOG_TAIL))
    metrics: dict[str, list[tuple[int | None, float]]] = field(default_factory=dict)
    item_errors: deque[ItemErrorEvent] = field(default_factory=lambda: deque(maxlen=LOG_TAIL))
    error_count: int = 0
    chunks_computed: list[int] = field(default_factory=list)
    chunks_skipped: list[int] = field(default_factory=list)
    artifacts: list[ArtifactEvent] = field(default_factory=list)
    tokens: deque[TokenPiece] = field(default_factory=lambda: deque(maxlen=TOKEN_TAIL))
    events_seen: int = 0
    # (ts, done) of this attempt's progress: the first point, and the recent window (plus one point before it)
    _attempt_start: tuple[float, int] | None = field(default=None, repr=False)
    _window: deque[tuple[float, int]] = field(default_factory=deque, repr=False)

    def consume(self, event: Event) -> None:
        self.events_seen += 1
        self.run_id = event.run_id or self.run_id
        self.last_ts = event.ts
        if isinstance(event, StatusEvent):
            if event.status == "running" and self.status != "running":  # a start or a resume: a new attempt
                self.started_ts = self.started_ts or event.ts
                self._attempt_start, self.rate = None, None
                self._window.clear()
            self.status, self.status_message = event.status, event.message
            self.rate = self._rate(self.rate)
        elif isinstance(event, ProgressEvent):
            self.done, self.total, self.unit = event.done, event.total, event.unit
            self._add_point(event.ts, event.done)
            self.rate = self._rate(event.rate)
        elif isinstance(event, MetricEvent):
            self.metrics.setdefault(event.name, []).append((event.step, event.value))
        elif isinstance(event, LogEvent):
            self.logs.append(event)
        elif isinstance(event, ItemErrorEvent):
            self.item_errors.append(event)
            self.error_count += 1
        elif isinstance(event, ChunkEvent):
            (self.chunks_computed if event.action == "computed" else self.chunks_skipped).append(event.index)
        elif isinstance(event, ArtifactEvent):
            self.artifacts.append(event)
        elif isinstance(event, TokenBatchEvent):
            self.tokens.extend(event.tokens)

    def _add_point(self, ts: float, done: int) -> None:
        if self._attempt_start is None:
            self._attempt_start = (ts, done)
        window = self._window
        window.append((ts, done))
        while len(window) > 1 and ts - window[1][0] >= RATE_WINDOW:
            window.popleft()  # keep one point at or before the window's start: a burst is measured over time

    def _rate(self, reported: float | None) -> float | None:
        """Units/s from event timestamps: over the last RATE_WINDOW s while running, over the whole attempt
        (since the last start or resume, so skipped chunks never count) once it has ended."""
        if not self._window:
            return self.rate
        first = self._window[0] if self.status in ("running", "queued") else self._attempt_start
        assert first is not None
        last = self._window[-1]
        if last[0] <= first[0]:
            return reported if self.status == "running" else None
        return max(0.0, (last[1] - first[1]) / (last[0] - first[0]))

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)

    @property
    def eta_seconds(self) -> float | None:
        if not self.total or not self.rate or self.rate <= 0 or self.status != "running":
            return None
        return max(0.0, (self.total - self.done) / self.rate)

    def latest_metric(self, name: str) -> float | None:
        series = self.metrics.get(name)
        return series[-1][1] if series else None


class EventTail:
    """Incrementally reads an events.jsonl, keeping a partial last line for the next poll."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self._partial = b""

    def poll(self) -> list[Event]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            if line.strip():
                try:
                    events.append(parse_event(line))
                except ValueError:
                    continue  # unknown or torn line: skip, never crash a reader
        return events


def load_state(events_path: Path) -> RunState:
    state = RunState()
    for event in EventTail(events_path).poll():
        state.consume(event)
    return state


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def age(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
