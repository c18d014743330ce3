"""The review queue (`v` on Records): one record at a time, disagreements first, marked by keyboard.

`c` correct, `w` wrong, `s` skip (each written to the run's `reviews.jsonl` and fsynced before the screen moves
on), `u` undo, `e` a note (saved with the next mark, or at once on enter for a record already marked), `→`/`←`
move without marking. The queue is the Records screen's current selection ordered by
`experiments.reviews.queue`; it opens at the first record nobody has looked at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Input, Static

from experiments.reviews.queue import ReviewQueue
from experiments.reviews.session import ReviewSession
from experiments.textsafe import inert
from experiments.views.records_index import IndexStale
from experiments.views.records_query import RecordsView, Selection
from tui_app.screens.base import ConsoleScreen, PaletteCommand
from tui_app.widgets.detail import RecordDetail

if TYPE_CHECKING:
    from tui_app.screens.records import RecordsScreen

MARK_NAMES = {"correct": "correct", "wrong": "wrong", "skip": "skipped"}


def open_review(records: RecordsScreen) -> None:
    """`v` on the Records screen: build the queue from what it shows (in a worker: a search may still scan)."""
    view, session, pager = records.view, records.session, records.pager
    if view is None or session is None or pager is None:
        records.notify("The records are still being read; try again in a moment.", severity="warning")
        return
    if not view.has_verdicts() and not session.counts()["rows"]:
        records.notify("Nothing to review against: this run has no rule or judge verdicts "
                       "(grade or judge it first).", severity="warning")
        return
    _build_queue(records, session, pager)


def _build_queue(records: RecordsScreen, session: ReviewSession, pager: Selection) -> None:
    def build() -> None:
        queue = ReviewQueue.build(session.view, pager.rows())
        records.app.call_from_thread(_push, records, session, queue)

    records.run_worker(build, thread=True, exit_on_error=False, name="review queue", group="review")


def _push(records: RecordsScreen, session: ReviewSession, queue: ReviewQueue) -> None:
    if not len(queue):
        records.notify("No records match the current filter: nothing to review.", severity="warning")
        return
    records.app.push_screen(ReviewScreen(session, queue))


class ReviewScreen(ConsoleScreen):
    BINDINGS = [
        Binding("c", "mark('correct')", "Correct"),
        Binding("y", "mark('correct')", "Correct", show=False),
        Binding("w", "mark('wrong')", "Wrong"),
        Binding("n", "mark('wrong')", "Wrong", show=False),
        Binding("s", "mark('skip')", "Skip"),
        Binding("u", "undo", "Undo"),
        Binding("ctrl+z", "undo", "Undo", show=False),
        Binding("e", "note", "Note"),
        Binding("right,j", "step(1)", "Next"),
        Binding("left,k", "step(-1)", "Previous"),
        Binding("A", "agreement", "Agreement", show=False),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, session: ReviewSession, queue: ReviewQueue) -> None:
        super().__init__()
        self.session = session
        self.queue = queue
        self.pending_note = ""

    @property
    def view(self) -> RecordsView:  # what the agreement table reads
        return self.session.view

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="review-progress")
        yield RecordDetail(id="review-detail")
        yield Input(placeholder="note (e): enter keeps it for the next mark, or saves it on a marked record",
                    id="review-note")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"review of {self.session.store.run_id}"
        self.show_current()

    # -- rendering ------------------------------------------------------------------------------------------
    def show_current(self) -> None:
        row = self.queue.row
        try:
            record = self.session.view.records([row])[0]
        except IndexStale as exc:  # the run was force-resumed under us: its records are not these any more
            self.notify(str(exc), title="records changed", severity="error", timeout=10)
            self.app.pop_screen()
            return
        review = self.session.review_of(row)
        self.query_one("#review-detail", RecordDetail).show(record, review)
        self.render_progress(review)

    def render_progress(self, review: object = None) -> None:
        reviewed, skipped, total = self.queue.progress()
        text = Text()
        text.append(f" {reviewed} of {total} reviewed", style="bold")
        if skipped:
            text.append(f" ({skipped} skipped)")
        text.append(f"   record {self.queue.position + 1} of {total}", style="dim")
        if self.queue.reason:
            text.append(f"   why first: {self.queue.reason}", style="bold yellow")
        verdict = getattr(review, "verdict", None)
        if verdict:
            text.append(f"   you: {MARK_NAMES.get(verdict, verdict)}", style="bold")
        if self.pending_note:
            text.append(f"   note waiting: {inert(self.pending_note[:40])}", style="italic")
        self.query_one("#review-progress", Static).update(text)

    # -- actions --------------------------------------------------------------------------------------------
    def action_mark(self, verdict: str) -> None:
        note_box = self.query_one("#review-note", Input)
        note = note_box.value.strip() or self.pending_note
        try:
            self.session.mark(self.queue.row, verdict, note)
        except OSError as exc:  # a full or read-only disk: say so, keep the note, stay on the record
            self.notify(f"Could not save the review: {exc}", title="not saved", severity="error", timeout=10)
            return
        note_box.value, self.pending_note = "", ""
        reviewed, _, total = self.queue.progress()
        nxt = self.queue.next_open(self.queue.position + 1 if self.queue.position + 1 < total else 0)
        if nxt == self.queue.position and self.queue.decided().all():
            self.notify(f"All {total} records in this queue were looked at ({reviewed} reviewed).", timeout=5)
        self.queue.position = nxt
        self.show_current()

    def action_undo(self) -> None:
        try:
            row = self.session.undo()
        except OSError as exc:
            self.notify(f"Could not save the undo: {exc}", title="not saved", severity="error", timeout=10)
            return
        if row is None:
            self.notify("Nothing to undo: no marks of yours on this run.", severity="warning")
            return
        where = self.queue.find(row) if row >= 0 else None
        if where is None:
            self.notify("Undone (that record is not in this queue).", timeout=3)
        else:
            self.queue.position = where
            self.notify("Undone.", timeout=2)
        self.show_current()

    def action_step(self, delta: int) -> None:
        target = self.queue.position + delta
        if not 0 <= target < len(self.queue):
            self.notify("This is the " + ("last" if delta > 0 else "first") + " record of the queue.",
                        severity="warning", timeout=3)
            return
        self.queue.position = target
        self.show_current()

    def action_note(self) -> None:
        self.query_one("#review-note", Input).focus()

    @on(Input.Submitted, "#review-note")
    def _note_submitted(self, event: Input.Submitted) -> None:
        note = event.value.strip()
        event.input.value = ""
        self.set_focus(None)
        review = self.session.review_of(self.queue.row)
        own = self.session.reviews.get(*self.session.view.index.key(self.queue.row))
        if note and own is not None and own.decided:
            try:
                self.session.mark(self.queue.row, own.verdict or "skip", note)
            except OSError as exc:
                self.notify(f"Could not save the note: {exc}", title="not saved", severity="error", timeout=10)
                return
            self.notify("Note saved.", timeout=2)
            self.show_current()
            return
        self.pending_note = note
        if note:
            self.notify("The note is saved with your mark (c, w or s).", timeout=3)
        self.render_progress(review)

    def action_agreement(self) -> None:
        from tui_app.screens.agreement import open_agreement

        open_agreement(self)

    def action_back(self) -> None:
        note = self.query_one("#review-note", Input)
        if note.has_focus:
            self.set_focus(None)
        else:
            self.app.pop_screen()

    def palette_commands(self) -> list[PaletteCommand]:
        return [("Mark correct", "Human verdict: correct", lambda: self.action_mark("correct")),
                ("Mark wrong", "Human verdict: wrong", lambda: self.action_mark("wrong")),
                ("Skip record", "Looked at, no verdict", lambda: self.action_mark("skip")),
                ("Undo last mark", "Restore the record's previous review", self.action_undo),
                ("Agreement table", "Human vs judge vs rule", self.action_agreement)]
