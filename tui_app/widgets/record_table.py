"""A table drawn line by line (Textual's Line API) for the Records screen: only the rows on screen are rendered,
each row once per width, so a page down costs the forty rows it shows and nothing more.

DataTable renders every visible cell through Rich's padding on each frame that changes, about 46 ms per page down
at 160 columns (measured on the Records screen), which was the whole 50 ms budget of a scroll step over a run of a
million records. This widget keeps DataTable's keys, cursor and look (header, zebra rows, the block cursor) and the
small part of its API the screens use (`add_row`, `clear`, `update_cell`, `get_row_at`, `move_cursor`,
`row_count`, `cursor_row`). Columns are fixed width, measured on the rows added, except the last, which takes the
rest of the line; there is no horizontal scrolling (the detail pane shows a record whole).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui_app.widgets.scrolling import set_virtual_size

CELL_PADDING = 1  # spaces either side of a cell, as DataTable draws them


def fit(text: str, width: int) -> str:
    """`text` on one line in exactly `width` cells: padded with spaces, or cut with an ellipsis."""
    text = text.replace("\n", " ")
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…" if width > 0 else ""


class RecordTable(ScrollView, can_focus=True):
    """Rows of Text cells under a fixed header line, a row cursor, and a RowHighlighted message when it moves."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "first", "First", show=False),
        Binding("end,ctrl+end", "last", "Last", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"record-table--header", "record-table--cursor",
                                             "record-table--even-row"}
    DEFAULT_CSS = """
    RecordTable {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: scroll;  /* always shown: more rows never change the table's size (no re-layout) */
        &:focus {
            background-tint: $foreground 5%;
            & > .record-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        & > .record-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .record-table--even-row {
            background: $surface-lighten-1 50%;
        }
        &:dark > .record-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .record-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    class RowHighlighted(Message):
        """The cursor moved to `cursor_row`."""

        def __init__(self, table: RecordTable, cursor_row: int) -> None:
            super().__init__()
            self.table, self.cursor_row = table, cursor_row

        @property
        def control(self) -> RecordTable:
            return self.table

    def __init__(self, columns: Sequence[str], max_widths: dict[str, int] | None = None, *, id: str | None = None,
                 zebra_stripes: bool = True, on_highlight: Callable[[int], None] | None = None) -> None:
        """`on_highlight(row)` is called as the cursor moves, before the frame that shows it is drawn (what a pane
        that follows the cursor needs to land in the same frame: the RowHighlighted message arrives a frame later,
        about 30 ms on the Records screen). The message is posted either way."""
        super().__init__(id=id)
        self.on_highlight = on_highlight
        self.columns = tuple(columns)
        self.max_widths = dict(max_widths or {})
        self.zebra_stripes = zebra_stripes
        self.rows: list[list[Text]] = []
        self.widths = [len(name) for name in self.columns]
        self.cursor_row = 0
        self._lines: LRUCache[tuple[int, int], list[Segment]] = LRUCache(1024)  # (row, width) -> plain segments
        self._header: tuple[int, Strip] | None = None
        self._styles: tuple[Style, Style, Style] | None = None

    # -- the API the screens use ------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.rows)

    def get_row_at(self, index: int) -> list[Text]:
        return list(self.rows[index])

    def clear(self) -> None:
        self.rows.clear()
        self.widths = [len(name) for name in self.columns]
        self.cursor_row = 0
        self._forget()
        self.scroll_to(y=0, animate=False, immediate=True)
        self._resize()

    def add_rows(self, rows: Sequence[Sequence[Text]]) -> None:
        """Append rows (one Text per column); the columns widen to fit them, up to their maximum."""
        widened = False
        for cells in rows:
            if len(cells) != len(self.columns):
                raise ValueError(f"a row of {len(cells)} cells for {len(self.columns)} columns")
            self.rows.append(list(cells))
            widened = self._widen(enumerate(cells)) or widened
        if widened:
            self._forget()
        self._resize()
        self.refresh()

    def update_cell(self, row: int, column: int, value: Text) -> None:
        self.rows[row][column] = value
        if self._widen([(column, value)]):  # e.g. a verdict that gained its review mark
            self._forget()
            self.refresh()
        else:
            self._lines.discard((row, self.scrollable_content_region.width))
            self.refresh_row(row)

    def _widen(self, cells: Iterable[tuple[int, Text]]) -> bool:
        """Widen the columns (all but the last, which takes the rest) to fit these cells, up to their maximum;
        True if one grew."""
        widened = False
        for i, cell in cells:
            if i < len(self.columns) - 1:
                width = min(cell.cell_len, self.max_widths.get(self.columns[i], 10**6))
                if width > self.widths[i]:
                    self.widths[i], widened = width, True
        return widened

    def move_cursor(self, row: int, scroll: bool = True) -> None:
        """Put the cursor on `row` (clamped), scroll it into view and say so."""
        if not self.rows:
            return
        row = max(0, min(row, len(self.rows) - 1))
        old, self.cursor_row = self.cursor_row, row
        if scroll:
            self._scroll_into_view(row)
        self.refresh_row(old)
        self.refresh_row(row)
        if row != old:
            if self.on_highlight is not None:
                self.on_highlight(row)
            self.post_message(self.RowHighlighted(self, row))

    # -- keys and mouse -----------------------------------------------------------------------------------------
    @property
    def page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_down(self) -> None:
        """The next screenful, the cursor keeping its place on screen (as DataTable pages)."""
        self._page(self.page_rows)

    def action_page_up(self) -> None:
        self._page(-self.page_rows)

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self.rows) - 1)

    def _page(self, delta: int) -> None:
        if not self.rows:
            return
        top = max(0, min(round(self.scroll_y) + delta, self._max_top()))
        self.scroll_to(y=top, animate=False, immediate=True)
        self.move_cursor(self.cursor_row + delta)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        row = round(self.scroll_y) + offset.y - 1
        if row < len(self.rows):
            self.move_cursor(row, scroll=False)

    # -- drawing ------------------------------------------------------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        base = self.rich_style  # looked up once a frame, not once a line
        self._styles = (base, base + self.get_component_rich_style("record-table--cursor"),
                        base + self.get_component_rich_style("record-table--even-row"))
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            return self._header_strip(width)
        base, cursor, even = self._styles or (self.rich_style,) * 3
        row = round(self.scroll_y) + y - 1
        if row >= len(self.rows):
            return Strip.blank(width, base)
        segments = self._lines.get((row, width))
        if segments is None:
            segments = self._row_segments(self.rows[row], width)
            self._lines.set((row, width), segments)
        style = cursor if row == self.cursor_row else even if self.zebra_stripes and row % 2 == 0 else base
        return Strip(Segment.apply_style(segments, style), width)

    def _row_segments(self, cells: Sequence[Text], width: int) -> list[Segment]:
        """One row as segments of exactly `width` cells: each cell padded, cut with an ellipsis when too long.
        A cell keeps its base style only (the Records screen's cells are plain or one colour)."""
        pad = Segment(" " * CELL_PADDING)
        segments: list[Segment] = []
        used = 0
        for i, cell in enumerate(cells):
            room = max(0, width - used - 2 * CELL_PADDING) if i == len(cells) - 1 else self.widths[i]
            style = Style.parse(cell.style) if isinstance(cell.style, str) else cell.style  # parse is cached
            segments += [pad, Segment(fit(cell.plain, room), style or None), pad]
            used += room + 2 * CELL_PADDING
        return list(Segment.adjust_line_length(segments, width))

    def _header_strip(self, width: int) -> Strip:
        if self._header is None or self._header[0] != width:
            header = [Text(name) for name in self.columns]
            style = self.rich_style + self.get_component_rich_style("record-table--header")
            self._header = (width, Strip(Segment.apply_style(self._row_segments(header, width), style), width))
        return self._header[1]

    def refresh_row(self, row: int) -> None:
        y = row - round(self.scroll_y) + 1
        if 1 <= y < self.scrollable_content_region.height:
            self.refresh_lines(y)

    def _forget(self) -> None:
        self._lines.clear()
        self._header = None

    def _resize(self) -> None:
        set_virtual_size(self, Size(max(1, self.size.width), len(self.rows) + 1))

    def _max_top(self) -> int:
        return max(0, len(self.rows) + 1 - self.scrollable_content_region.height)

    def _scroll_into_view(self, row: int) -> None:
        top = round(self.scroll_y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row > top + self.page_rows - 1:
            self.scroll_to(y=row - self.page_rows + 1, animate=False, immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        self._header = None
        self._resize()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._header = None  # the theme changed: the header is drawn with the new colours (rows take style late)
