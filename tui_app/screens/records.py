"""A run's records, a page at a time, over its records index: filters, verdict policy, search, detail pane, and the
way into the review queue (`v`) and the agreement table (`A`).

All reads go through `experiments.views.records_index` (built on first open, cached in the run folder) in thread
workers: a page of records is read by offset, counts and filters are numpy over the index, so a run of a million
records opens and scrolls like a run of six.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static

from experiments.reviews.policy import POLICIES
from experiments.reviews.session import ReviewSession
from experiments.runs.store import RunStore
from experiments.textsafe import inert
from experiments.views.records import RECORD_COLUMNS, VERDICT_MARKS, record_cells
from experiments.views.records_index import RecordsIndex
from experiments.views.records_query import RecordsView, Selection
from experiments.views.verdicts import overlay_for
from tui_app.screens.base import ConsoleScreen, PaletteCommand
from tui_app.widgets.detail import RecordDetail
from tui_app.widgets.record_table import RecordTable
from tui_app.widgets.status import VERDICT_STYLES

PAGE_SIZE = 200  # records per page read: a few screens, read by offset in milliseconds
PREFETCH = 100  # read the next page when the cursor gets this close to the last loaded row (two screens ahead)
SEARCH_DELAY = 0.3
VERDICT_COLUMN = RECORD_COLUMNS.index("ok")
SHOWN_FILTERS = ("all", "correct", "incorrect", "ungraded", "reviewed", "disagree")
VERDICT_NAMES = {1: "correct", 0: "incorrect", -1: "ungraded"}
# The widest a column gets (the response takes the rest of the line; the detail pane shows a record whole).
COLUMN_WIDTHS = {"example": 28, "sample": 6, "domain": 12, "ok": 4, "extracted": 16, "gold": 16, "token": 14,
                 "finish": 8}


class RecordsScreen(ConsoleScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("a", "filter('all')", "All"),
        Binding("y", "filter('correct')", "Correct"),
        Binding("n", "filter('incorrect')", "Incorrect"),
        Binding("u", "filter('ungraded')", "Ungraded"),
        Binding("r", "filter('reviewed')", "Reviewed", show=False),
        Binding("x", "filter('disagree')", "Disagreements", show=False),
        Binding("d", "cycle('domain')", "Domain", show=False),
        Binding("t", "cycle('token')", "Token", show=False),
        Binding("p", "policy", "Verdict policy", show=False),
        Binding("v", "review", "Review"),
        Binding("A", "agreement", "Agreement"),
        Binding("E", "export_reviewed", "Export reviewed", show=False),
        Binding("slash", "search", "Search"),
        Binding("m", "more", "More", show=False),
        Binding("g", "reload", "Reload", show=False),
    ]

    def __init__(self, store: RunStore, page_size: int = PAGE_SIZE) -> None:
        super().__init__()
        self.store = store
        self.page_size = page_size
        self.which, self.policy, self.query_text = "all", "auto", ""
        self.domain: str | None = None
        self.token: str | None = None
        self.view: RecordsView | None = None
        self.session: ReviewSession | None = None
        self.rows: list[dict[str, Any]] = []
        self.counts: dict[str, int] | None = None
        self.pager: Selection | None = None
        self._loading: Selection | None = None
        self._generation = 0
        self._indexing = ""
        self._search_timer: Timer | None = None
        self._open_lock = threading.Lock()
        self._readers: list[str] = []  # run ids whose verdicts/tokens are joined in (an inference run's readers)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="records-note", markup=False)
        with Horizontal(id="filter-bar"):
            yield Static("", id="filter-label")
            yield Input(placeholder="search question / response  (/)", id="search")
        with Horizontal(id="records-body"):
            yield RecordTable(RECORD_COLUMNS, COLUMN_WIDTHS, id="records", on_highlight=self._highlighted)
            yield RecordDetail(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"records of {self.store.run_id}"
        self.query_one("#records", RecordTable).focus()
        self.query_one("#records-note", Static).display = False
        self.reload(refresh=True)

    # -- loading ------------------------------------------------------------------------------------------
    def reload(self, refresh: bool = False) -> None:
        """Start over with the current filter and search: a new selection, first page. `refresh` re-reads the
        run's chunks first (new chunks of a running run; the index on first open)."""
        self._generation += 1
        self.rows = []
        self.pager = None
        self.query_one("#records", RecordTable).clear()
        self.query_one("#detail", RecordDetail).show(None)
        self.render_label()
        self._first_page(self._generation, refresh)

    @work(thread=True, exit_on_error=False, name="read records", group="records")
    def _first_page(self, generation: int, refresh: bool) -> None:
        with self._open_lock:  # one index build at a time, however fast the keys come
            self._open_view(generation, refresh)

    def _open_view(self, generation: int, refresh: bool) -> None:
        view, session = self.view, self.session
        if refresh or view is None:
            def progress(done: int, total: int) -> None:
                self.app.call_from_thread(self._set_indexing, f"indexing {done}/{total} chunks…")

            old = view.index if view is not None else None
            index = old.refresh(progress) if old is not None else RecordsIndex.open(self.store, progress)
            overlay = overlay_for(self.store, self.console.home)  # an inference run: its readers' verdicts
            readers = [RecordsIndex.open(source) for source in overlay.sources] if overlay is not None else []
            if index is not old or view is None or readers or self._readers:
                view = RecordsView(index, readers=readers)
                session = ReviewSession(self.store, view)
            self._readers = [source.run_id for source in overlay.sources] if overlay is not None else []
            self.app.call_from_thread(self._set_note, overlay.note() if overlay is not None else "")
        assert view is not None and session is not None
        pager = view.select(self.which, self.policy, self.domain, self.token, self.query_text)
        counts = view.counts(self.policy, self.domain, self.token)
        page = pager.next_page(self.page_size)
        self.app.call_from_thread(self._show_first, generation, view, session, pager, counts, page)

    def _set_note(self, text: str) -> None:
        """An inference run's records show the verdicts of the runs that read it, or say where they would be."""
        if self.is_attached:
            note = self.query_one("#records-note", Static)
            note.display = bool(text)
            note.update(inert(text))

    def _set_indexing(self, text: str) -> None:
        if self.is_attached:
            self._indexing = text
            self.render_label()

    def _show_first(self, generation: int, view: RecordsView, session: ReviewSession, pager: Selection,
                    counts: dict[str, int], page: list[dict[str, Any]]) -> None:
        if not self.is_attached:
            return  # popped while this was read
        self.view, self.session = view, session  # valid whatever the filter is now
        if generation != self._generation:
            return  # the filter changed while this was read: a newer page is on its way
        self.counts, self.pager = counts, pager
        self._indexing = ""
        self.add_page(pager, page)

    def load_more(self) -> None:
        pager = self.pager
        if pager is None or pager.exhausted or self._loading is pager:
            return
        self._loading = pager
        self.render_label()
        self._read_page(pager)

    @work(thread=True, exit_on_error=False, name="read records", group="records")
    def _read_page(self, pager: Selection) -> None:
        page = pager.next_page(self.page_size)
        self.app.call_from_thread(self.add_page, pager, page)

    def add_page(self, pager: Selection, page: list[dict[str, Any]]) -> None:
        if not self.is_attached or pager is not self.pager:
            return  # popped, or the filter changed while this page was read
        self._loading = None
        first = not self.rows
        start = len(self.rows)
        self.rows.extend(page)
        rows = []
        for offset, record in enumerate(page):
            cells = [Text(inert(cell), no_wrap=True) for cell in record_cells(record)]  # Text: never markup
            cells[VERDICT_COLUMN] = self._verdict_cell(pager.page_rows[start + offset])
            rows.append(cells)
        self.query_one("#records", RecordTable).add_rows(rows)
        if first and self.rows:
            self._show_detail(0)
        self.render_label()

    def _verdict_cell(self, row: int) -> Text:
        """The verdict under the current policy, marked ✎ when a person reviewed the record."""
        assert self.view is not None
        name = VERDICT_NAMES[int(self.view.verdict(self.policy)[row])]
        mark = VERDICT_MARKS[name] + (" ✎" if self.view.reviewed_rows[row] else "")
        return Text(mark, style=VERDICT_STYLES[name])

    def refresh_verdicts(self) -> None:
        """Reviews changed (back from the review screen): redraw the loaded verdict cells and the counts."""
        if self.view is None or self.pager is None:
            return
        table = self.query_one("#records", RecordTable)
        for i, row in enumerate(self.pager.page_rows[:len(self.rows)]):
            table.update_cell(i, VERDICT_COLUMN, self._verdict_cell(row))
        self.counts = self.view.counts(self.policy, self.domain, self.token)
        self.render_label()
        if self.rows:
            self._show_detail(min(table.cursor_row, len(self.rows) - 1))

    def render_label(self) -> None:
        text = Text()
        for which in SHOWN_FILTERS:
            count = f" {self.counts[which]}" if self.counts is not None else ""
            style = "bold reverse" if which == self.which else "dim"
            text.append(f" {which}{count} ", style=style)
            text.append(" ")
        scope = [f"verdict {self.policy}" if self.policy != "auto" else "",
                 f"domain {self.domain}" if self.domain else "", f"token {self.token}" if self.token else ""]
        if any(scope):
            text.append("  " + " · ".join(s for s in scope if s), style="bold")
        shown = len(self.rows)
        if self._indexing:
            text.append(f"  {self._indexing}", style="dim")
        elif self.pager is None:
            text.append("  loading…", style="dim")
        elif self.pager.exhausted:
            text.append(f"  {shown} shown", style="dim")
        else:
            total = f" · {self.pager.count} match" if self.pager.count is not None else ""
            text.append(f"  first {shown} shown, more below (m){total}", style="dim")
        self.query_one("#filter-label", Static).update(text, layout=False)  # its size is the bar's: no re-layout

    # -- events ---------------------------------------------------------------------------------------------
    def _show_detail(self, index: int) -> None:
        row = self.pager.page_rows[index] if self.pager is not None else -1
        review = self.session.review_of(row) if self.session is not None and row >= 0 else None
        self.query_one("#detail", RecordDetail).show(self.rows[index], review)

    def _highlighted(self, index: int) -> None:
        """The table's cursor moved: the detail pane follows in the same frame; near the end, read more."""
        if index < len(self.rows):
            self._show_detail(index)  # the pane starts at the record's top
        if index >= len(self.rows) - min(PREFETCH, self.page_size // 2):
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
        self.query_one("#records", RecordTable).focus()

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
            self.reload(refresh=True)
            return
        self.which = which
        self.reload()

    def action_cycle(self, what: str) -> None:
        """d / t: step through the run's domains (tokens), then back to all."""
        if self.view is None:
            self.notify("The records are still being read.", severity="warning")
            return
        values = self.view.values("domain" if what == "domain" else "confidence_token")
        current = self.domain if what == "domain" else self.token
        if not values or (len(values) == 1 and current is None):
            why = f"one domain only ({values[0]})" if what == "domain" and values else \
                "no records have a domain" if what == "domain" else \
                f"one confidence token only ({values[0]})" if values else \
                "no confidence tokens in this run (tag it to get them)"
            self.notify(f"Nothing to filter by: {why}.", severity="warning")
            return
        order = [None, *values]
        chosen = order[(order.index(current) + 1) % len(order) if current in order else 0]
        if what == "domain":
            self.domain = chosen
        else:
            self.token = chosen
        self.reload()

    def action_policy(self) -> None:
        """p: whose verdict the ok column and the filters use: recorded (auto), best, human, judge, rule."""
        order = ("auto", "best", "human", "judge", "rule")
        assert set(order) == set(POLICIES)
        self.policy = order[(order.index(self.policy) + 1) % len(order)]
        meaning = {"auto": "as recorded: the rule's verdict, else the judge's", "best": "human where reviewed, "
                   "else judge, else rule", "human": "reviews only", "judge": "the judge's", "rule": "the rule's"}
        self.notify(f"verdict policy {self.policy}: {meaning[self.policy]}", timeout=4)
        self.reload()

    def action_reload(self) -> None:
        """Re-read the run's chunks (a running run has written more), look for verdicts again, recount."""
        self.notify(f"reloading the records of {self.store.run_id}", timeout=2)
        self.reload(refresh=True)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_more(self) -> None:
        if self.pager is not None and self.pager.exhausted:
            self.notify(f"All {len(self.rows)} matching records are shown.", timeout=3)
        self.load_more()

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_focus:
            self.query_one("#records", RecordTable).focus()
        else:
            self.app.pop_screen()

    def action_review(self) -> None:
        from tui_app.screens.review import open_review

        open_review(self)

    def action_agreement(self) -> None:
        from tui_app.screens.agreement import open_agreement

        open_agreement(self)

    def action_export_reviewed(self) -> None:
        if self.session is None or not self.session.counts()["rows"]:
            self.notify("No reviews to export yet: press v to review this run's records.", severity="warning")
            return
        self._export()

    @work(thread=True, exit_on_error=False, name="export reviewed", group="records-export")
    def _export(self) -> None:
        from experiments.reviews.export import write_reviewed

        path, rows = write_reviewed(self.store, self.store.output_path("reviewed.jsonl"))
        self.app.call_from_thread(self.notify, f"{rows} reviewed records -> {path}", title="export", timeout=8)

    def on_screen_resume(self) -> None:
        self.refresh_verdicts()  # back from reviewing: verdict marks and counts changed

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            *[(f"Show {which} records", f"Filter records: {which}", lambda w=which: self.action_filter(w))
              for which in SHOWN_FILTERS],
            ("Search records", "Focus the search box", self.action_search),
            ("Next domain", "Filter by the run's domains in turn", lambda: self.action_cycle("domain")),
            ("Next confidence token", "Filter by the run's tokens in turn", lambda: self.action_cycle("token")),
            ("Next verdict policy", "auto, best, human, judge, rule", self.action_policy),
            ("Review records", "The review queue: disagreements first", self.action_review),
            ("Agreement table", "Human vs judge vs rule: kappa, confusion", self.action_agreement),
            ("Export reviewed records", "outputs/reviewed.jsonl", self.action_export_reviewed),
            ("Load more records", f"Read the next {self.page_size} matching records", self.action_more),
            ("Reload records", "Re-read the run's chunks and recount", self.action_reload),
        ]
