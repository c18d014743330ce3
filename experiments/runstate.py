"""Readers' side of the event protocol: a plain-Python `RunState` reduced from events (no Textual).

The TUI renders a `RunState` on a timer and the CLI prints one; both feed it with `EventTail`, which reads only
the bytes appended since the last poll.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from experiments.events import (
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

    def consume(self, event: Event) -> None:
        self.events_seen += 1
        self.run_id = event.run_id or self.run_id
        self.last_ts = event.ts
        if isinstance(event, StatusEvent):
            self.status, self.status_message = event.status, event.message
            if event.status == "running" and self.started_ts is None:
                self.started_ts = event.ts
            if event.status == "running":
                self.rate = None
        elif isinstance(event, ProgressEvent):
            self.done, self.total, self.unit, self.rate = event.done, event.total, event.unit, event.rate
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
