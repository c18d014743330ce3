"""A run's records, a page at a time: verdict filters, text search and a detail pane."""

from __future__ import annotations

from collections import Counter
from itertools import takewhile
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import get_current_worker

from experiments.runs.store import RunStore
from experiments.textsafe import inert
from experiments.views.records import (
    RECORD_COLUMNS,
    VERDICTS,
    RecordPager,
    iter_matching,
    record_cells,
    verdict,
    verdict_counts,
)
from experiments.views.verdicts import VerdictOverlay, overlay_for
from tui_app.screens.base import ConsoleScreen, PaletteCommand
from tui_app.widgets.detail import RecordDetail
from tui_app.widgets.status import VERDICT_STYLES

PAGE_SIZE = 500
PREFETCH = 20  # load the next page when the cursor gets this close to the last loaded row
SEARCH_DELAY = 0.3
VERDICT_COLUMN = RECORD_COLUMNS.index("ok")


class RecordsScreen(ConsoleScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("a", "filter('all')", "All"),
        Binding("y", "filter('correct')", "Correct"),
        Binding("n", "filter('incorrect')", "Incorrect"),
        Binding("u", "filter('ungraded')", "Ungraded"),
        Binding("slash", "search", "Search"),
        Binding("m", "more", "More", show=False),
        Binding("g", "reload", "Reload", show=False),
    ]

    def __init__(self, store: RunStore, page_size: int = PAGE_SIZE) -> None:
        super().__init__()
        self.store = store
        self.page_size = page_size
        self.which = "all"
        self.query_text = ""
        self.rows: list[dict[str, Any]] = []
        self.counts: Counter[str] | None = None
        self.pager: RecordPager | None = None
        self._loading: RecordPager | None = None
        self._search_timer: Timer | None = None
        self.overlay: VerdictOverlay | None = None
        self._overlay_ready = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="records-note", markup=False)
        with Horizontal(id="filter-bar"):
            yield Static("", id="filter-label")
            yield Input(placeholder="search question / response  (/)", id="search")
        with Horizontal(id="records-body"):
            yield DataTable(id="records", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="detail-scroll"):
                yield RecordDetail(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"records of {self.store.run_id}"
        table = self.query_one("#records", DataTable)
        for column in RECORD_COLUMNS:
            table.add_column(column, key=column)
        table.focus()
        self.query_one("#records-note", Static).display = False
        self._find_overlay()

    @work(thread=True, exit_on_error=False, name="find verdicts", group="records")
    def _find_overlay(self) -> None:
        overlay = overlay_for(self.store, self.console.home)
        self.app.call_from_thread(self._set_overlay, overlay)

    def _set_overlay(self, overlay: VerdictOverlay | None) -> None:
        """An inference run's records show the verdicts of the runs that read it (or say there are none)."""
        if not self.is_attached:
            return
        self.overlay, self._overlay_ready = overlay, True
        note = self.query_one("#records-note", Static)
        note.display = overlay is not None
        if overlay is not None:
            note.update(overlay.note())
        self.reload()
        self._count()

    # -- loading ------------------------------------------------------------------------------------------
    def reload(self) -> None:
        """Start over with the current filter and search: a new pager, first page."""
        self.rows = []
        self.query_one("#records", DataTable).clear()
        self.query_one("#detail", RecordDetail).show(None)
        self.pager = RecordPager(self.store, self.which, self.query_text, self.overlay)
        self._loading = None
        self.load_more()

    def load_more(self) -> None:
        pager = self.pager
        if pager is None or pager.exhausted or self._loading is pager:
            return
        self._loading = pager
        self.render_label()
        self._read_page(pager)

    @work(thread=True, exit_on_error=False, name="read records", group="records")
    def _read_page(self, pager: RecordPager) -> None:
        page = pager.next_page(self.page_size)
        self.app.call_from_thread(self.add_page, pager, page)

    def add_page(self, pager: RecordPager, page: list[dict[str, Any]]) -> None:
        if not self.is_attached:  # popped while a worker was reading
            return
        if pager is not self.pager:
            return  # the filter changed while this page was read
        self._loading = None
        table = self.query_one("#records", DataTable)
        first = not self.rows
        start = len(self.rows)
        self.rows.extend(page)
        for offset, record in enumerate(page):
            cells: list[str | Text] = [inert(cell) for cell in record_cells(record)]
            cells[VERDICT_COLUMN] = Text(str(cells[VERDICT_COLUMN]), style=VERDICT_STYLES[verdict(record)])
            table.add_row(*cells, key=str(start + offset))
        if first and self.rows:
            self.query_one("#detail", RecordDetail).show(self.rows[0])
        self.render_label()

    @work(thread=True, exit_on_error=False, name="count records", group="records-count")
    def _count(self) -> None:
        worker = get_current_worker()  # a whole-run scan: stop early when the screen is left
        records = iter_matching(self.store, overlay=self.overlay)
        counts = verdict_counts(takewhile(lambda _: not worker.is_cancelled, records))
        if not worker.is_cancelled:
            self.app.call_from_thread(self._set_counts, counts)

    def _set_counts(self, counts: Counter[str]) -> None:
        if not self.is_attached:  # popped while a worker was reading
            return
        self.counts = counts
        self.render_label()

    def render_label(self) -> None:
        text = Text()
        for which in VERDICTS:
            count = f" {self.counts[which]}" if self.counts is not None else ""
            style = "bold reverse" if which == self.which else "dim"
            text.append(f" {which}{count} ", style=style)
            text.append(" ")
        shown = len(self.rows)
        if self.pager is None or self._loading is self.pager and not shown:
            text.append("  loading…", style="dim")
        elif self.pager.exhausted:
            text.append(f"  {shown} shown", style="dim")
        else:
            text.append(f"  first {shown} shown, more below (m)", style="dim")
        self.query_one("#filter-label", Static).update(text)

    # -- events ---------------------------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#records")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value is None:
            return
        index = int(event.row_key.value)
        if index < len(self.rows):
            self.query_one("#detail", RecordDetail).show(self.rows[index])
            self.query_one("#detail-scroll", VerticalScroll).scroll_home(animate=False)
        if index >= len(self.rows) - min(PREFETCH, self.page_size // 5 + 1):
            self.load_more()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self._apply_search)

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._apply_search()
        self.query_one("#records", DataTable).focus()

    def _apply_search(self) -> None:
        value = self.query_one("#search", Input).value.strip()
        if value != self.query_text:
            self.query_text = value
            self.reload()

    # -- actions ------------------------------------------------------------------------------------------
    def action_filter(self, which: str) -> None:
        if which == self.which:  # pressing the same key again re-reads: new chunks of a running run show up
            self.notify(f"re-reading the {which} records", timeout=2)
        self.which = which
        self.reload()

    def action_reload(self) -> None:
        """Re-read from the first chunk (a running run has written more), look for verdicts again, recount."""
        self.counts = None
        self.notify(f"reloading the records of {self.store.run_id}", timeout=2)
        self._find_overlay()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_more(self) -> None:
        pager = self.pager
        if pager is not None and pager.exhausted:
            self.notify(f"all {len(self.rows)} matching records are shown", timeout=3)
            return
        self.load_more()

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_focus:
            self.query_one("#records", DataTable).focus()
        else:
            self.app.pop_screen()

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            *[(f"Show {which} records", f"Filter records: {which}", lambda w=which: self.action_filter(w))
              for which in VERDICTS],
            ("Search records", "Focus the search box", self.action_search),
            ("Load more records", f"Read the next {self.page_size} matching records", self.action_more),
            ("Reload records", "Re-read the run's chunks and recount", self.action_reload),
        ]

