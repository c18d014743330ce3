"""One writer per run: a worker holds an exclusive `flock` on `<run>/.lock-w<slot>` for the whole attempt.

The kernel drops a flock when its holder dies, kill -9 included, so a lock left by a killed worker is free at once
(no timeout to wait out). The file names its holder (pid, the process's start time, host), for the message that
refuses a second writer, and for filesystems without `flock` (some network mounts), where a holder counts as
alive only while a process with that pid *and* that start time exists: a reused pid is not the old worker.

Slots: a data-parallel run has one lock per worker slot; a pipeline's worker holds the pipeline's lock and, while
it runs a step in its own process, that step's slot-0 lock too (different files: they never conflict).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from experiments.runs.store import proc_start, same_process

LOCK_GLOB = ".lock-w*"
LAUNCH_LOCK = ".launch.lock"


@dataclass(frozen=True)
class Holder:
    pid: int
    start: int | None
    host: str
    since: float
    slot: int = 0

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"worker pid {self.pid} on {self.host} (slot {self.slot}, since {when})"


class RunLocked(RuntimeError):
    """A second writer on a run (a worker, or `resume`, while one is live)."""


def _read_holder(path: Path) -> Holder | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text() or "{}")
        return Holder(int(data["pid"]), data.get("start"), str(data.get("host", "?")), float(data.get("since", 0)),
                      int(data.get("slot", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def locked_message(run_id: str, holder: Holder | None, what: str) -> str:
    who = holder.describe() if holder else "another worker"
    return (f"run {run_id} is being written by {who}: one writer per run, so {what} is refused. Wait for it, or "
            f"cancel it first (confconsole cancel {run_id}).")


class RunLock:
    """`with RunLock(run_dir, slot):` holds the slot for the block; raises RunLocked if a live writer has it."""

    def __init__(self, run_dir: Path, slot: int = 0) -> None:
        self.dir = Path(run_dir)
        self.slot = slot
        self.path = self.dir / f".lock-w{slot}"
        self._fd: int | None = None
        self.recovered: Holder | None = None  # the stale holder this lock took over, if any

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        previous = _read_holder(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLocked(locked_message(self.dir.name, previous, "a second worker")) from None
        except OSError as exc:  # no flock here (ENOLCK, EOPNOTSUPP): fall back to pid + start time
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                os.close(fd)
                raise
            if previous and previous.pid != os.getpid() and same_process(previous.pid, previous.start):
                os.close(fd)
                raise RunLocked(locked_message(self.dir.name, previous, "a second worker")) from None
        if previous and previous.pid != os.getpid():
            self.recovered = previous  # its holder died (the kernel released the flock): a stale lock, taken over
        me = Holder(os.getpid(), proc_start(os.getpid()), platform.node(), time.time(), self.slot)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(me)).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # no holder named once released
        finally:
            os.close(self._fd)  # drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def live_holders(run_dir: Path) -> list[Holder]:
    """The run's slots held right now by a live writer (a stale lock file names nobody)."""
    found = []
    for path in sorted(Path(run_dir).glob(LOCK_GLOB)):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(path)
            found.append(holder or Holder(0, None, "?", 0.0, int(path.name.rsplit("w", 1)[-1] or 0)))
            continue
        except OSError:  # no flock: trust pid + start time
            holder = _read_holder(path)
            if holder and same_process(holder.pid, holder.start):
                found.append(holder)
            continue
        finally:
            os.close(fd)
    return found


class LaunchLock:
    """Serialises the launchers of one run (`resume` from a CLI and a TUI at once): the check that no writer is
    live and the start of new workers happen as one step."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LAUNCH_LOCK
        self._fd: int | None = None

    def __enter__(self) -> LaunchLock:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
