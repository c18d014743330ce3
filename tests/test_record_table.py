"""The Records screen's line-drawn table (`tui_app.widgets.record_table`): DataTable's keys and cursor over rows of
Text cells, drawing only the rows on screen, and the detail pane that follows the cursor in the same frame."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from tui_app.widgets.record_table import RecordTable, fit

COLUMNS = ("example", "ok", "response")


class TableApp(App[None]):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.n = rows
        self.highlighted: list[int] = []
        self.messages: list[int] = []

    def compose(self) -> ComposeResult:
        yield RecordTable(COLUMNS, {"example": 12}, id="t", on_highlight=self.highlighted.append)

    def on_mount(self) -> None:
        table = self.query_one(RecordTable)
        table.add_rows([[Text(f"example-{i:05d}-long-name"), Text("✓", style="green"), Text(f"answer {i}\nline two")]
                        for i in range(self.n)])
        table.focus()

    def on_record_table_row_highlighted(self, message: RecordTable.RowHighlighted) -> None:
        self.messages.append(message.cursor_row)


def test_fit_pads_and_cuts_with_an_ellipsis() -> None:
    assert fit("abc", 5) == "abc  " and fit("abcdef", 4) == "abc…" and fit("a\nb", 3) == "a b" and fit("x", 0) == ""


async def test_keys_move_the_cursor_and_the_view_like_a_datatable() -> None:
    app = TableApp(500)
    async with app.run_test(size=(80, 22)) as pilot:
        table = app.query_one(RecordTable)
        page = table.page_rows
        assert page == 21 and table.row_count == 500 and table.cursor_row == 0
        await pilot.press("down", "down")
        assert table.cursor_row == 2 and table.scroll_y == 0
        await pilot.press("pagedown")
        assert table.cursor_row == 2 + page and table.scroll_y == page  # the cursor keeps its place on screen
        await pilot.press("pageup")
        assert table.cursor_row == 2 and table.scroll_y == 0
        await pilot.press("end")
        assert table.cursor_row == 499 and table.scroll_y == table.max_scroll_y == 500 + 1 - 22
        await pilot.press("pagedown", "down")  # nowhere further to go
        assert table.cursor_row == 499
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_y == 0
        await pilot.pause()
        assert app.highlighted == [1, 2, 2 + page, 2, 499, 0]  # the callback, once per move
        assert app.messages == app.highlighted  # and the message, for anyone else
        await pilot.click(RecordTable, offset=(5, 4))  # row 3 on screen: the header is line 0
        assert table.cursor_row == 3


async def test_cells_are_fitted_to_their_columns_and_the_last_takes_the_rest() -> None:
    app = TableApp(3)
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(RecordTable)
        width = table.scrollable_content_region.width
        line = "".join(s.text for s in table._row_segments(table.rows[0], width))
        assert len(line) == width and line.startswith(" example-000… ") and " ✓ " in line  # example capped at 12
        assert "answer 0 line two" in line  # newlines shown as spaces, on one line
        table.update_cell(0, 1, Text("✗", style="red"))
        await pilot.pause()
        assert str(table.get_row_at(0)[1]) == "✗"
        table.update_cell(0, 1, Text("✗ ✎", style="red"))  # a wider value widens its column, never cut
        line = "".join(s.text for s in table._row_segments(table.rows[0], width))
        assert " ✗ ✎ " in line
        header = "".join(s.text for s in table.render_line(0))
        assert header.split() == list(COLUMNS)


async def test_a_page_down_draws_only_the_rows_it_shows() -> None:
    """50,000 rows: a page down renders the one screenful that comes into view, never the rows around it."""
    app = TableApp(50_000)
    async with app.run_test(size=(80, 22)) as pilot:
        table = app.query_one(RecordTable)
        drawn: list[int] = []
        draw = table._row_segments

        def counted(cells: list[Text], width: int) -> list:
            if str(cells[0]).startswith("example-"):  # not the header
                drawn.append(int(str(cells[0])[8:13]))
            return draw(cells, width)

        table._row_segments = counted
        await pilot.press("pagedown")
        await pilot.pause()
        assert sorted(set(drawn)) == list(range(21, 42)) and len(drawn) == 21  # each once, the new screen only
        drawn.clear()
        await pilot.press("down")
        await pilot.pause()
        assert drawn == []  # moving the cursor redraws two cached lines, rendering nothing
