"""The record detail pane: titled sections, the record's text shown verbatim (no markup, no Markdown), wrapped to
the pane and scrolled on its own.

It is a Line-API widget so that showing another record repaints the pane and nothing else: a Static in a scroll
container changes height with every record, and each change re-lays out and repaints the whole screen (measured on
the Records screen: 67 ms of CPU per page down with it, 30 ms without). Here the text is wrapped once per record and
width, the vertical scrollbar is always there (the pane's width never changes with the record), and the scrollable
height is set without a layout.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from experiments.textsafe import inert
from experiments.views.records import record_sections, verdict
from tui_app.widgets.scrolling import set_virtual_size
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


class RecordDetail(ScrollView):
    """Shows one record; `show(None)` clears it. Focusable and scrolled by keys or wheel; `show` starts at the top."""

    DEFAULT_CSS = """
    RecordDetail {
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record: dict[str, Any] | None = None
        self.text = render_record(None)
        self._lines: list[list[Segment]] = []
        self._wrapped_at = -1

    def show(self, record: dict[str, Any] | None, review: Any = None) -> None:
        self.record = record
        self.text = render_record(record, review)
        self._wrapped_at = -1
        self._wrap()
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    def render(self) -> Text:
        """The whole text shown (what tests and screenshots read)."""
        return self.text

    def _wrap(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or width == self._wrapped_at or not self.is_mounted:
            return
        console = self.app.console
        lines = self.text.wrap(console, width, overflow="fold")
        self._lines = [list(line.render(console)) for line in lines]
        self._wrapped_at = width
        set_virtual_size(self, Size(width, len(self._lines)))  # the scrollbar is always shown: no re-layout

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if self._wrapped_at != width:
            self._wrap()
        row = round(self.scroll_y) + y
        style = self.rich_style
        if row >= len(self._lines):
            return Strip.blank(width, style)
        return Strip(Segment.apply_style(self._lines[row], style)).extend_cell_length(width, style).crop(0, width)

    def on_mount(self) -> None:
        super().on_mount()
        self._wrap()

    def on_resize(self, event: events.Resize) -> None:
        self._wrap()
