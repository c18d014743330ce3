"""Two runs side by side (`x` on two runs of the Runs screen): accuracy by domain for both, the questions where
their verdicts differ, and the selected question's records of both runs next to each other."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from experiments.runs.store import RunStore
from experiments.textsafe import inert
from experiments.views.compare import Comparison, compare_runs, question_records
from experiments.views.records import preview, verdict
from tui_app.screens.base import ConsoleScreen, PaletteCommand


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


class CompareScreen(ConsoleScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("s", "swap", "Swap A/B"),
    ]

    def __init__(self, a: RunStore, b: RunStore) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.result: Comparison | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("comparing…", id="compare-head", markup=False)
        yield DataTable(id="compare-domains", cursor_type="row")
        yield Static("Questions where they differ (↑/↓: both runs' records below)", classes="pane-title")
        yield DataTable(id="compare-differ", cursor_type="row")
        with Horizontal(id="compare-records"):
            with VerticalScroll():
                yield Static("", id="compare-a", markup=False)
            with VerticalScroll():
                yield Static("", id="compare-b", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.a.run_id} vs {self.b.run_id}"
        domains = self.query_one("#compare-domains", DataTable)
        for label in ("domain", "A graded", "A accuracy", "B graded", "B accuracy", "B - A"):
            domains.add_column(label)
        differ = self.query_one("#compare-differ", DataTable)
        for label in ("example", "domain", "A", "B", "question"):
            differ.add_column(label)
        self.load()

    @work(thread=True, exit_on_error=False, name="compare runs", group="compare")
    def load(self) -> None:
        result = compare_runs(self.a, self.b, self.console.home)
        self.app.call_from_thread(self.show, result)

    def show(self, result: Comparison) -> None:
        if not self.is_attached:
            return
        self.result = result
        b_better = sum(1 for r in result.differ if r["gap"] > 0)
        self.query_one("#compare-head", Static).update(inert(
            f"A {result.a} ({result.a_label})\nB {result.b} ({result.b_label})\n{result.common} questions in both"
            f" · {len(result.differ)} differ: B better on {b_better}, A on {len(result.differ) - b_better}"))
        domains = self.query_one("#compare-domains", DataTable)
        domains.clear()
        for row in result.accuracy:
            delta = "-" if row["delta"] is None else f"{row['delta']:+.1%}"
            domains.add_row(inert(row["domain"]), str(row["a_graded"]), _pct(row["a_accuracy"]),
                            str(row["b_graded"]), _pct(row["b_accuracy"]), delta)
        differ = self.query_one("#compare-differ", DataTable)
        differ.clear()
        for row in result.differ:
            differ.add_row(inert(row["example_id"]), inert(row["domain"]), _pct(row["a"]), _pct(row["b"]),
                           inert(row["question"]), key=row["example_id"])
        if not result.differ:
            self.query_one("#compare-a", Static).update("The two runs agree on every question they share.")
            return
        differ.focus()  # the questions are what to walk through (not the domain table above them)
        self.load_question(str(result.differ[0]["example_id"]))

    @on(DataTable.RowSelected, "#compare-differ")
    @on(DataTable.RowHighlighted, "#compare-differ")
    def _question(self, event: DataTable.RowSelected | DataTable.RowHighlighted) -> None:
        """The highlighted question's records from both runs, side by side (as the cursor moves, and on enter)."""
        if event.row_key is not None and event.row_key.value:
            self.load_question(str(event.row_key.value))

    @work(thread=True, exit_on_error=False, name="read question", group="compare-question", exclusive=True)
    def load_question(self, example_id: str) -> None:
        left = self._side("A", self.a_graded, example_id)
        right = self._side("B", self.b_graded, example_id)
        self.app.call_from_thread(self._show_question, left, right)

    @property
    def a_graded(self) -> RunStore:
        return RunStore.open(self.result.a, self.console.home) if self.result else self.a

    @property
    def b_graded(self) -> RunStore:
        return RunStore.open(self.result.b, self.console.home) if self.result else self.b

    @staticmethod
    def _side(label: str, store: RunStore, example_id: str) -> str:
        records = question_records(store, example_id)
        if not records:
            return f"{label}: no record of {example_id}"
        head = [f"{label}: {store.run_id}", f"question: {records[0].get('question', '')}",
                f"gold: {records[0].get('gold', '')}", ""]
        body = [f"#{r.get('sample_idx', 0)} {verdict(r)}  extracted {preview(r.get('extracted'), 30)}\n"
                f"{r.get('response', '')}\n" for r in records]
        return inert("\n".join(head + body))

    def _show_question(self, left: str, right: str) -> None:
        if self.is_attached:
            self.query_one("#compare-a", Static).update(left)
            self.query_one("#compare-b", Static).update(right)

    def action_swap(self) -> None:
        self.a, self.b = self.b, self.a
        self.sub_title = f"{self.a.run_id} vs {self.b.run_id}"
        self.load()

    def palette_commands(self) -> list[PaletteCommand]:
        return [("Swap A and B", "Compare the other way round", self.action_swap)]
