"""Curation: a weak and a strong run's difficulty buckets side by side, thresholds tuned live, then export.

`[`/`]` move low_thresh and `{`/`}` high_thresh by 0.05; bucket counts and the kept count follow at once (the
view recomputes a vectorised mask, no file reads). Enter on a bucket lists its questions; `e` launches a filter
run with these thresholds, `v` a critique run (mixed filter + verl parquet). Loading is done in thread workers.
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Select, Static

from experiments.runs.store import RunStore
from experiments.stages.curation.views import (
    STEP,
    CurationView,
    QuestionRow,
    ThresholdState,
    question_texts,
    source_file_of,
    step,
)
from tui_app.screens.base import ConsoleScreen, PaletteCommand

HIST_COLUMNS = ("bucket", "questions", "kept", "")
QUESTION_COLUMNS = ("example_id", "index", "weak", "strong", "kept", "question")


class CurationScreen(ConsoleScreen):
    DEFAULT_CSS = """
    #cur-pick { height: auto; }
    #cur-pick Select { width: 1fr; }
    #cur-status { height: auto; padding: 0 1; background: $boost; }
    #cur-hists { height: 12; }
    .cur-hist { width: 1fr; }
    #cur-questions { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("left_square_bracket", "move('low', -1)", "low-", key_display="[", priority=True),
        Binding("right_square_bracket", "move('low', 1)", "low+", key_display="]", priority=True),
        Binding("left_curly_bracket", "move('high', -1)", "high-", key_display="{", priority=True),
        Binding("right_curly_bracket", "move('high', 1)", "high+", key_display="}", priority=True),
        Binding("e", "export('filter')", "Export filtered"),
        Binding("v", "export('critique')", "Export verl"),
    ]

    def __init__(self, weak: str | None = None, strong: str | None = None) -> None:
        super().__init__()
        self.weak, self.strong = weak, strong
        self.low_thresh, self.high_thresh = 0.0, 1.0
        self.view: CurationView | None = None
        self.state: ThresholdState | None = None
        self.shown_bucket: tuple[str, str] | None = None
        self.choices: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="cur-pick"):
            yield Select[str]([], prompt="weak run", id="cur-weak")
            yield Select[str]([], prompt="strong run", id="cur-strong")
        yield Static("reading the graded runs…", id="cur-status", markup=False)
        with Horizontal(id="cur-hists"):
            for role in ("weak", "strong"):
                with Vertical(classes="cur-hist"):
                    yield Static(f"{role} (pass rate)", classes="pane-title", id=f"cur-{role}-title")
                    yield DataTable(id=f"cur-{role}-hist", cursor_type="row")
        yield DataTable(id="cur-questions", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "curation: weak/strong thresholds"
        for role in ("weak", "strong"):
            table = self.query_one(f"#cur-{role}-hist", DataTable)
            for label in HIST_COLUMNS:
                table.add_column(label, key=label or "bar")
        questions = self.query_one("#cur-questions", DataTable)
        for label in QUESTION_COLUMNS:
            questions.add_column(label, key=label)
        self._load_choices()

    # -- loading --------------------------------------------------------------------------------------------
    @work(thread=True, exit_on_error=False, name="list graded runs", group="curation")
    def _load_choices(self) -> None:
        from experiments.stages.curation.views import rated_runs

        choices = rated_runs(self.console.home)
        self.app.call_from_thread(self.show_choices, choices)

    def show_choices(self, choices: list[Any]) -> None:
        """Weak: every rated run; strong: only runs that pair with the weak one (other answers to the same
        questions). With no pair possible the status line says why and what would make one."""
        from experiments.stages.curation.views import default_pair

        self.choices = choices
        self.weak, self.strong = default_pair(choices, self.weak, self.strong)
        self.query_one("#cur-weak", Select).set_options([(c.label, c.id) for c in choices])
        if self.weak:
            self.query_one("#cur-weak", Select).value = self.weak
        self._offer_partners()
        self._maybe_load()

    def _offer_partners(self) -> None:
        from experiments.stages.curation.views import pairing_problem, partners

        chosen = next((c for c in self.choices if c.id == self.weak), None)
        found = partners(chosen, self.choices) if chosen else []
        select = self.query_one("#cur-strong", Select)
        select.set_options([(c.label, c.id) for c in found])
        if self.strong not in [c.id for c in found]:
            self.strong = found[0].id if found else None
        if self.strong:
            select.value = self.strong
        problem = pairing_problem(self.choices, self.weak)
        if problem:
            self.view = None
            self.query_one("#cur-status", Static).update(problem)

    @on(Select.Changed)
    def _picked(self, event: Select.Changed) -> None:
        value = None if event.value is Select.NULL else str(event.value)
        if event.select.id == "cur-weak":
            if value == self.weak:
                return
            self.weak = value
            self._offer_partners()
        elif event.select.id == "cur-strong":
            self.strong = value
        self._maybe_load()

    def _maybe_load(self) -> None:
        if self.weak and self.strong and (self.view is None or (self.view.weak_run, self.view.strong_run)
                                          != (self.weak, self.strong)):
            self.query_one("#cur-status", Static).update(f"loading pass rates of {self.weak} and {self.strong}…")
            self._load_view(self.weak, self.strong)

    @work(thread=True, exit_on_error=False, exclusive=True, name="load pass rates", group="curation-view")
    def _load_view(self, weak: str, strong: str) -> None:
        home = self.console.home
        view = CurationView.load(RunStore.open(weak, home), RunStore.open(strong, home))
        self.app.call_from_thread(self.show_view, view)

    def show_view(self, view: CurationView) -> None:
        if not self.is_attached:
            return
        self.view = view
        self.refresh_state()

    # -- thresholds -----------------------------------------------------------------------------------------
    def action_move(self, which: str, direction: int) -> None:
        before = (self.low_thresh, self.high_thresh)
        if which == "low":
            self.low_thresh = step(self.low_thresh, direction * STEP)
        else:
            self.high_thresh = step(self.high_thresh, direction * STEP)
        if (self.low_thresh, self.high_thresh) == before:
            value = self.low_thresh if which == "low" else self.high_thresh
            self.notify(f"{which}_thresh is already {value:.2f}, its {'lowest' if direction < 0 else 'highest'}.",
                        timeout=3)
        self.refresh_state()

    def refresh_state(self) -> None:
        if self.view is None:
            from experiments.stages.curation.views import pairing_problem

            problem = pairing_problem(self.choices, self.weak) or "(no pair of runs loaded yet)"
            self.query_one("#cur-status", Static).update(
                f"low_thresh {self.low_thresh:.2f}   high_thresh {self.high_thresh:.2f}   {problem}")
            return
        state = self.state = self.view.apply(self.low_thresh, self.high_thresh)
        share = state.kept / state.questions if state.questions else 0.0
        self.query_one("#cur-status", Static).update(
            f"low_thresh {state.low_thresh:.2f} ([ ])   high_thresh {state.high_thresh:.2f} ({{ }})   "
            f"kept {state.kept} / {state.questions} ({share:.0%})   drop: low_pass_rate <= low or "
            f"high_pass_rate >= high")
        for role, lines in (("weak", state.weak), ("strong", state.strong)):
            table = self.query_one(f"#cur-{role}-hist", DataTable)
            if table.row_count != len(lines):
                table.clear()
                for line in lines:
                    table.add_row(line.bucket, str(line.total), str(line.kept), line.bar, key=line.bucket)
                continue
            for line in lines:
                table.update_cell(line.bucket, "questions", str(line.total))
                table.update_cell(line.bucket, "kept", str(line.kept))
                table.update_cell(line.bucket, "bar", line.bar)
        if self.shown_bucket is not None:
            self.show_bucket(*self.shown_bucket)

    # -- a bucket's questions --------------------------------------------------------------------------------
    @on(DataTable.RowSelected, ".cur-hist DataTable")
    def _bucket_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        role = "weak" if event.data_table.id == "cur-weak-hist" else "strong"
        self.show_bucket(role, str(event.row_key.value))

    def show_bucket(self, role: str, bucket: str) -> None:
        if self.view is None:
            return
        self.shown_bucket = (role, bucket)
        rows = self.view.bucket_questions(role, bucket, self.low_thresh, self.high_thresh)
        table = self.query_one("#cur-questions", DataTable)
        table.clear()
        for r in rows:
            table.add_row(r.example_id, "" if r.index is None else str(r.index), _rate(r.low_pass_rate),
                          _rate(r.high_pass_rate), "yes" if r.kept else "no", "", key=r.example_id)
        self.query_one("#cur-status", Static).update(
            f"{role} · {bucket}: {len(rows)} questions shown   (kept {self.state.kept if self.state else 0})")
        if rows and self.weak:
            self._load_texts(self.weak, rows)

    @work(thread=True, exit_on_error=False, exclusive=True, name="read questions", group="curation-texts")
    def _load_texts(self, run: str, rows: list[QuestionRow]) -> None:
        texts = question_texts(RunStore.open(run, self.console.home), [r.example_id for r in rows])
        self.app.call_from_thread(self.show_texts, texts)

    def show_texts(self, texts: dict[str, str]) -> None:
        if not self.is_attached:
            return
        table = self.query_one("#cur-questions", DataTable)
        for eid, text in texts.items():
            if eid in table.rows:
                table.update_cell(eid, "question", text.replace("\n", " ")[:120])

    # -- export -----------------------------------------------------------------------------------------------
    def action_export(self, action: str) -> None:
        if not (self.weak and self.strong):
            from experiments.stages.curation.views import pairing_problem

            self.notify(pairing_problem(self.choices, self.weak) or "Pick a weak and a strong run first.",
                        severity="warning", timeout=8)
            return
        self._launch(action, self.weak, self.strong, self.low_thresh, self.high_thresh)

    @work(thread=True, exit_on_error=False, name="launch curation", group="jobs")
    def _launch(self, action: str, weak: str, strong: str, low: float, high: float) -> None:
        from experiments import api
        from experiments.stages.curation.spec import CurationSpec

        fields: dict[str, Any] = {}
        if action == "filter":
            source = source_file_of(RunStore.open(weak, self.console.home), self.console.home)
            fields = {"low_thresh": low, "high_thresh": high, "source": source}
        spec = CurationSpec(action=action, weak_runs=[weak], strong_runs=[strong],
                            title=f"curation {action} from the console", **fields)
        run_id = api.launch(spec, self.console.home)
        self.app.call_from_thread(self.notify, f"{action} run launched: {run_id}", title="export")

    def action_back(self) -> None:
        self.app.pop_screen()

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            ("Lower low_thresh", "low_thresh - 0.05", lambda: self.action_move("low", -1)),
            ("Raise low_thresh", "low_thresh + 0.05", lambda: self.action_move("low", 1)),
            ("Lower high_thresh", "high_thresh - 0.05", lambda: self.action_move("high", -1)),
            ("Raise high_thresh", "high_thresh + 0.05", lambda: self.action_move("high", 1)),
            ("Export filtered parquet", "Launch a filter run with these thresholds", lambda: self.action_export(
                "filter")),
            ("Export verl critique data", "Launch a mixed + critique run", lambda: self.action_export("critique")),
        ]


def _rate(value: float) -> str:
    return "" if value != value else f"{value:.2f}"
