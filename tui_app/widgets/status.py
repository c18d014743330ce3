"""Run status as coloured text."""

from __future__ import annotations

from rich.text import Text

STATUS_STYLES = {
    "running": "bold cyan",
    "queued": "blue",
    "done": "green",
    "failed": "bold red",
    "cancelled": "yellow",
    "interrupted": "bold magenta",
}

VERDICT_STYLES = {"correct": "green", "incorrect": "red", "ungraded": "yellow"}


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))
