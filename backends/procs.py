"""Process liveness shared by the worker layer and the managed server (a zombie counts as gone)."""

from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    if not pid or not signal_reaches(pid):
        return False
    try:  # a zombie (a finished child not yet reaped) counts as dead
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:  # no /proc here, or the zombie was reaped since the signal: ask the kernel again
        return signal_reaches(pid)


def signal_reaches(pid: int) -> bool:
    """Does `pid` exist (a zombie too)? Signal 0 checks without sending anything."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    return True
