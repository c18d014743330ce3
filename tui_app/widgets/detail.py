"""The record detail pane: titled sections, the record's text shown verbatim (no markup, no Markdown)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from experiments.textsafe import inert
from experiments.views.records import record_sections, verdict
from tui_app.widgets.status import VERDICT_STYLES

HUMAN_STYLES = {"correct": "green", "wrong": "red", "skip": "yellow"}


def render_record(record: dict[str, Any] | None, review: Any = None) -> Text:
    if record is None:
        return Text("No record selected.", style="dim")
    text = Text()
    for title, body in record_sections(record, review):
        if text:
            text.append("\n\n")
        text.append(title.upper(), style="bold cyan")
        text.append("\n")
        style = VERDICT_STYLES.get(verdict(record), "") if title == "verdict" else ""
        if title == "human verdict":
            style = HUMAN_STYLES.get(review.verdict, "")
        text.append(inert(body), style=style)
    return text


class RecordDetail(Static):
    """Shows one record; `show(None)` clears it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(render_record(None), **kwargs)
        self.record: dict[str, Any] | None = None

    def show(self, record: dict[str, Any] | None, review: Any = None) -> None:
        self.record = record
        self.update(render_record(record, review))
