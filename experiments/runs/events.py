"""Typed, versioned events: worker -> events.jsonl -> readers (CLI, TUI).

One pydantic discriminated union keyed on `type`. Every event carries `run_id`, `ts` and `seq`; the file is
append-only, so a reader that restarts simply replays it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter

SCHEMA_VERSION = 1
RunStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class EventBase(BaseModel):
    version: int = SCHEMA_VERSION
    run_id: str = ""
    ts: float = Field(default_factory=time.time)
    seq: int = 0


class StatusEvent(EventBase):
    type: Literal["status"] = "status"
    status: RunStatus
    message: str = ""


class ProgressEvent(EventBase):
    type: Literal["progress"] = "progress"
    done: int
    total: int | None = None
    unit: str = "items"
    rate: float | None = None  # units per second over a recent window


class MetricEvent(EventBase):
    type: Literal["metric"] = "metric"
    name: str
    value: float
    step: int | None = None


class LogEvent(EventBase):
    type: Literal["log"] = "log"
    level: Literal["debug", "info", "warning", "error"] = "info"
    message: str


class ItemErrorEvent(EventBase):
    type: Literal["item_error"] = "item_error"
    item_id: str
    reason: str
    detail: str = ""


class ChunkEvent(EventBase):
    """A chunk was computed, or skipped because its file already existed (resume)."""

    type: Literal["chunk"] = "chunk"
    index: int
    action: Literal["computed", "skipped"]
    records: int = 0
    worker: int = 0


class TokenPiece(BaseModel):
    text: str
    source: Literal["base", "oracle"]
    position: int
    stats: dict[str, float] = Field(default_factory=dict)


class TokenBatchEvent(EventBase):
    type: Literal["token_batch"] = "token_batch"
    stream: str = "0"
    tokens: list[TokenPiece]


class ArtifactEvent(EventBase):
    type: Literal["artifact"] = "artifact"
    path: str
    kind: str
    summary: dict[str, Any] = Field(default_factory=dict)


Event = Annotated[
    Union[
        StatusEvent,
        ProgressEvent,
        MetricEvent,
        LogEvent,
        ItemErrorEvent,
        ChunkEvent,
        TokenBatchEvent,
        ArtifactEvent,
    ],
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(line: str | bytes) -> Event:
    return EVENT_ADAPTER.validate_json(line)
