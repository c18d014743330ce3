"""`reviews.jsonl`: a run's human verdicts, one appended line per keypress, never rewritten.

Each line is an entry `{op, id, example_id, sample_idx, verdict, note, who, ts, previous}`: `op = "mark"` sets a
record's verdict (`correct`, `wrong` or `skip`) and remembers the state it replaced; `op = "undo"` restores the
state the mark it names replaced (`verdict = null`: not reviewed). Replaying the file gives the latest state per
record (latest wins) and the undo stack, so undo works across sessions and after a crash. Every append is one
`write` with `O_APPEND` followed by `fsync`: a review survives the TUI being killed right after the keypress. A
torn last line (a machine crash mid-write) is skipped on read and the next append starts a fresh line.

The rule grader's and the judge's verdicts stay in the run's chunks; policies combine them with these at read
time (`experiments.reviews.policy`).
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REVIEWS_FILE = "reviews.jsonl"
VERDICTS = ("correct", "wrong", "skip")
VERSION = 1

Key = tuple[str, int]


def reviewer() -> str:
    """Who is reviewing: `$CONFCONSOLE_REVIEWER`, else the login name."""
    name = os.environ.get("CONFCONSOLE_REVIEWER", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


@dataclass(frozen=True)
class Review:
    """A record's current human verdict. `verdict` None: not reviewed (or a mark that was undone)."""

    example_id: str
    sample_idx: int
    verdict: str | None
    note: str = ""
    who: str = ""
    ts: float = 0.0
    previous: dict[str, Any] | None = None

    @property
    def key(self) -> Key:
        return (self.example_id, self.sample_idx)

    @property
    def correct(self) -> bool | None:
        """True/False for a correct/wrong mark; None for skip or no mark."""
        return {"correct": True, "wrong": False}.get(self.verdict or "")

    @property
    def decided(self) -> bool:
        """Looked at: marked correct, wrong or skipped (the queue moves past it)."""
        return self.verdict is not None

    def state(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "note": self.note, "who": self.who, "ts": self.ts}


class ReviewStore:
    """One run's `reviews.jsonl`. Reads are incremental (a second TUI reviewing the same run is picked up by
    `refresh`); the in-memory state only ever comes from the file, so it is exactly what a restart would see."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = Path(run_dir) / REVIEWS_FILE
        self._latest: dict[Key, Review] = {}
        self._marks: dict[str, dict[str, Any]] = {}  # entry id -> mark entry (for undo)
        self._stack: list[str] = []  # mark ids not yet undone, oldest first
        self._offset = 0
        self._ends_clean = True
        self._lock = threading.Lock()
        self.torn = 0
        self.refresh()

    # -- reading --------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Apply the lines appended since the last read (by us or by another writer)."""
        with self._lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return
        whole = data[: data.rfind(b"\n") + 1]
        tail = data[len(whole):]
        for line in whole.splitlines():
            self._apply_line(line)
        self._offset += len(whole)
        # a tail without a newline is a torn write (crash mid-append) or a write still landing; it is read
        # once it ends with a newline, and an append never glues onto it
        self._ends_clean = not tail

    def _apply_line(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            entry = json.loads(line)
            key = (str(entry["example_id"]), int(entry.get("sample_idx", 0)))
        except (ValueError, KeyError, TypeError):
            self.torn += 1  # a torn or foreign line: skipped, never fatal
            return
        self._latest[key] = Review(key[0], key[1], entry.get("verdict"), str(entry.get("note") or ""),
                                   str(entry.get("who") or ""), float(entry.get("ts") or 0.0),
                                   entry.get("previous"))
        if entry.get("op") == "undo":
            undone = entry.get("undoes")
            if undone in self._stack:
                self._stack.remove(undone)
        else:
            self._marks[str(entry.get("id"))] = entry
            self._stack.append(str(entry.get("id")))

    def latest(self) -> dict[Key, Review]:
        """Every record that has ever been reviewed, at its current state (verdict None after an undo)."""
        return dict(self._latest)

    def get(self, example_id: str, sample_idx: int = 0) -> Review | None:
        return self._latest.get((str(example_id), int(sample_idx)))

    def reviewed(self) -> dict[Key, Review]:
        """Records with a current verdict (correct, wrong or skip)."""
        return {k: r for k, r in self._latest.items() if r.decided}

    def can_undo(self) -> bool:
        return bool(self._stack)

    # -- writing --------------------------------------------------------------------------------------------
    def mark(self, example_id: str, sample_idx: int, verdict: str, note: str = "", who: str | None = None) -> Review:
        """Record a human verdict for one record (durable when this returns)."""
        if verdict not in VERDICTS:
            raise ValueError(f"unknown review verdict {verdict!r}; one of {', '.join(VERDICTS)}")
        key = (str(example_id), int(sample_idx))
        with self._lock:
            self._refresh_locked()
            before = self._latest.get(key)
            previous = before.state() if before is not None and before.decided else None
            self._append({"op": "mark", "id": secrets.token_hex(6), "example_id": key[0], "sample_idx": key[1],
                          "verdict": verdict, "note": note, "who": who or reviewer(), "ts": time.time(),
                          "previous": previous})
            return self._latest[key]

    def undo(self, who: str | None = None) -> Review | None:
        """Take back the latest mark not yet undone: its record returns to the state before it. None when there
        is nothing to undo."""
        with self._lock:
            self._refresh_locked()
            if not self._stack:
                return None
            mark = self._marks[self._stack[-1]]
            previous = mark.get("previous") or {}
            self._append({"op": "undo", "id": secrets.token_hex(6), "undoes": mark["id"],
                          "example_id": mark["example_id"], "sample_idx": mark["sample_idx"],
                          "verdict": previous.get("verdict"), "note": previous.get("note", ""),
                          "who": who or reviewer(), "ts": time.time(), "previous": None})
            return self._latest[(str(mark["example_id"]), int(mark["sample_idx"]))]

    def _append(self, entry: dict[str, Any]) -> None:
        """One line, one `write`, then fsync; then read it back (with anything another writer added)."""
        entry = {"v": VERSION, **entry}
        data = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        if not self._ends_clean:
            data = b"\n" + data
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # the new file's directory entry must survive a crash too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._refresh_locked()
