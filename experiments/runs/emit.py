"""The worker side of the event protocol: typed events appended to events.jsonl, coalesced.

Progress and metrics are written at most a few times a second (the last value always lands on `flush`), so a
fast stage never floods the file or the TUI.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments.runs.events import (
    ArtifactEvent,
    ChunkEvent,
    EventBase,
    ItemErrorEvent,
    LogEvent,
    MetricEvent,
    ProgressEvent,
    RunStatus,
    StatusEvent,
    TokenBatchEvent,
    TokenPiece,
)

FAILPOINT_ENV = "CONFCONSOLE_FAULT_KILL_AT"  # the fault suite's failpoint: "N[:DELAY[:KIND]]" (see Failpoint)
MIN_INTERVAL = 0.25  # seconds between coalesced progress/metric writes
TOKEN_INTERVAL = 0.2  # seconds between token_batch writes of one stream
TOKEN_BATCH = 64  # tokens of one stream that force a write

RATE_WINDOW = 30.0  # seconds of progress the rate is measured over


def last_seq(path: Path) -> int:
    """The seq of the last whole line, so a resumed run continues the numbering."""
    if not path.exists():
        return 0
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 65536))
        lines = fh.read().splitlines()
    for line in reversed(lines):
        try:
            return int(json.loads(line).get("seq", 0))
        except (ValueError, AttributeError):
            continue
    return 0


def is_work(event: EventBase) -> bool:
    """Events of the work itself, not the bookkeeping every attempt writes again (status, logs, skipped chunks)."""
    if isinstance(event, (StatusEvent, LogEvent)):
        return False
    return not (isinstance(event, ChunkEvent) and event.action == "skipped")


def event_kind(event: EventBase) -> str:
    """`type`, or `metric:<name>` for a metric: what a failpoint can count."""
    name = getattr(event, "name", None)
    kind = str(getattr(event, "type", ""))
    return f"{kind}:{name}" if kind == "metric" and name else kind


class Failpoint:
    """Fault injection for the fault suite (`tests/faults/`): with `CONFCONSOLE_FAULT_KILL_AT=N[:DELAY[:KIND]]` in
    its environment, a worker SIGKILLs its own process group DELAY seconds after writing its Nth work event, or at
    its next one if that comes first (of KIND only, e.g. `metric:loss`, when given; all its emitters together: a
    pipeline and the steps it runs in-process). Kill points chosen by event count, not by time, land where they
    were planned however loaded the machine is. Unset (always, outside the fault suite), it does nothing."""

    def __init__(self, spec: str) -> None:
        count, _, rest = spec.partition(":")
        delay, _, kind = rest.partition(":")
        self.at = int(count) if count.strip() else 0
        self.delay = float(delay or 0)
        self.kind = kind
        self.seen = 0
        self._lock = threading.Lock()

    def tick(self, event: EventBase) -> None:
        if not self.at or not is_work(event) or (self.kind and event_kind(event) != self.kind):
            return
        with self._lock:
            self.seen += 1
            fire, late = self.seen == self.at, self.seen > self.at
        if fire and self.delay > 0:  # somewhere in the work after event N...
            timer = threading.Timer(self.delay, self.kill)
            timer.daemon = True  # a worker that finishes first exits normally
            timer.start()
        elif fire or late:  # ...but no later than event N + 1 (a busy or descheduled process fires timers late)
            self.kill()

    @staticmethod
    def kill() -> None:
        import signal

        os.killpg(os.getpgrp(), signal.SIGKILL)  # a worker leads its own process group (start_new_session)


FAILPOINT = Failpoint("")  # disarmed; only a worker process arms it (`arm_failpoint`, from worker.main)


def arm_failpoint() -> None:
    """Read the failpoint from the environment: called by the worker's entry point only, so a CLI or TUI run with
    the variable set never kills itself."""
    global FAILPOINT
    FAILPOINT = Failpoint(os.environ.get(FAILPOINT_ENV, ""))


class Emitter:
    """Writes events for one run. Thread-safe; `listeners` get every event (used by the CLI progress bar)."""

    def __init__(self, events_path: Path, run_id: str, worker: int = 0) -> None:
        self.path = events_path
        self.run_id = run_id
        self.worker = worker
        self._seq = 0
        self._size = -1  # bytes of events.jsonl after our last write; -1: read the tail first
        self._lock = threading.Lock()
        self._pending: dict[str, Callable[[], EventBase]] = {}
        self._last_write: dict[str, float] = {}
        self._rate_window: deque[tuple[float, int]] = deque()
        self.listeners: list[Callable[[EventBase], None]] = []
        self._tokens: dict[str, list[TokenPiece]] = {}
        self._tokens_written: dict[str, float] = {}

    def _write(self, event: EventBase) -> None:
        with self._lock:
            event.run_id = self.run_id
            self._append(event)
        FAILPOINT.tick(event)
        for listener in self.listeners:
            listener(event)

    def _append(self, event: EventBase) -> None:
        """Allocate `seq` and append under an exclusive lock on the file: data-parallel workers (and a resume's
        launcher) write one run's events, and seq must order them totally. The tail is re-read only when
        someone else wrote since our last line."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size != self._size:
                self._seq = last_seq(self.path)
            self._seq += 1
            event.seq = self._seq
            data = (json.dumps(event.model_dump(mode="json"), ensure_ascii=False, default=str) + "\n").encode()
            os.write(fd, data)
            self._size = size + len(data)
        finally:
            os.close(fd)  # releases the lock

    def _coalesced(self, key: str, make: Callable[[], EventBase], force: bool = False) -> None:
        """Write now if the key's interval has passed, else keep only the latest (built lazily: hot path)."""
        now = time.monotonic()
        if force or now - self._last_write.get(key, 0.0) >= MIN_INTERVAL:
            self._pending.pop(key, None)
            self._last_write[key] = now
            self._write(make())
        else:
            self._pending[key] = make

    def flush(self) -> None:
        self.flush_tokens()
        for key in list(self._pending):
            make = self._pending.pop(key, None)
            if make is not None:
                self._write(make())

    # -- event helpers -------------------------------------------------------------------------------------
    def status(self, status: RunStatus, message: str = "") -> None:
        self.flush()
        self._write(StatusEvent(status=status, message=message))

    def progress(self, done: int, total: int | None, unit: str = "items", force: bool = False) -> None:
        now, ts = time.monotonic(), time.time()
        window = self._rate_window
        if window and done < window[-1][1]:
            window.clear()  # progress restarted (a force resume): the old points say nothing about this rate
        window.append((now, done))
        while len(window) > 1 and now - window[1][0] >= RATE_WINDOW:
            window.popleft()  # keep one point at or before the window's start: a burst is measured over time
        t0, d0 = window[0]
        rate = (done - d0) / (now - t0) if now > t0 else None
        self._coalesced("progress", lambda: ProgressEvent(done=done, total=total, unit=unit, rate=rate, ts=ts),
                        force)

    def metric(self, name: str, value: float, step: int | None = None, force: bool = False) -> None:
        self._coalesced(f"metric:{name}", lambda: MetricEvent(name=name, value=value, step=step), force)

    def log(self, message: str, level: str = "info") -> None:
        self._write(LogEvent(message=message, level=level))  # type: ignore[arg-type]

    def item_error(self, item_id: str, reason: str, detail: str = "") -> None:
        self._write(ItemErrorEvent(item_id=item_id, reason=reason, detail=detail[:2000]))

    def chunk(self, index: int, action: str, records: int = 0) -> None:
        self._write(ChunkEvent(index=index, action=action, records=records, worker=self.worker))  # type: ignore[arg-type]

    def artifact(self, path: str, kind: str, summary: dict[str, Any] | None = None) -> None:
        self._write(ArtifactEvent(path=path, kind=kind, summary=summary or {}))

    def tokens(self, stream: str, pieces: list[TokenPiece], force: bool = False) -> None:
        """Buffer a stream's tokens; write one `token_batch` per stream every TOKEN_INTERVAL s or TOKEN_BATCH
        tokens (guided decoding streams many sequences at once: one event per token would flood the file)."""
        now = time.monotonic()
        with self._lock:
            buf = self._tokens.setdefault(stream, [])
            buf.extend(pieces)
            last = self._tokens_written.setdefault(stream, now)
            due = force or len(buf) >= TOKEN_BATCH or now - last >= TOKEN_INTERVAL
            batch = self._tokens.pop(stream) if due and buf else None
            if batch is not None:
                self._tokens_written[stream] = now
        if batch is not None:
            self._write(TokenBatchEvent(stream=stream, tokens=batch))

    def flush_tokens(self) -> None:
        with self._lock:
            pending, self._tokens = self._tokens, {}
        for stream, batch in pending.items():
            if batch:
                self._write(TokenBatchEvent(stream=stream, tokens=batch))
