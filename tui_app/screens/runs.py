"""The home screen: every run under the home, refreshed every second without losing the cursor."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker

from experiments.runs.store import RunStore
from experiments.stages import STAGES
from experiments.textsafe import inert
from experiments.views.runs import RunRow, RunsIndex
from tui_app.screens.base import ConsoleScreen, PaletteCommand, contextual
from tui_app.widgets.status import status_text

COLUMNS = (("id", "id"), ("stage", "stage"), ("status", "status"), ("progress", "progress"),
           ("records", "records"), ("errors", "errors"), ("result", "metric"), ("created", "created"),
           ("title", "title"))
DEMO_LIMIT = 20


def why_not(action: str, run_id: str, stage: str) -> str | None:
    """Why the Guided view or the Calibration screen does not open on this run (None: it does)."""
    from experiments.views.show import article

    if action == "guided" and stage != "guided":
        return f"{run_id} is {article(stage)}: the Guided view shows guided runs (n, stage guided, launches one)."
    if action == "calibration" and stage not in ("evaluation", "delegation"):
        return (f"{run_id} is {article(stage)}: Calibration shows evaluation and delegation runs (n, stage "
                "evaluation, launches one).")
    return None


def demo_text() -> str:
    from experiments.demo import DEMO_SOURCE  # datasets import lazily: the home screen starts fast

    return f"{DEMO_LIMIT} {DEMO_SOURCE} questions on the embedded model"


CELL_KEYS = ("progress", "records", "errors", "metric", "created", "title")  # RunRow.cells() order


class RunsScreen(ConsoleScreen):
    BINDINGS = [
        Binding("enter", "open_run", "Open", priority=True),  # over the table's own enter
        Binding("o", "open_records", "Records"),
        *contextual("k", "calibration", "Calibration", show=False),  # evaluation/delegation runs only
        Binding("n", "new_run", "New run"),
        Binding("e", "clone_run", "Clone + edit"),
        Binding("u", "curation", "Curation", show=False),  # in the help (?) and the palette; footer kept short
        Binding("d", "demo", "Demo"),
        Binding("c", "cancel", "Cancel"),
        Binding("r", "resume", "Resume"),
        Binding("R", "force_resume", "Force resume"),
        Binding("g", "refresh_now", "Refresh", show=False),
        *contextual("G", "guided", "Guided view"),  # in the footer only when the selected run is guided
        Binding("x", "compare", "Compare"),  # mark a run, then x on another: the two side by side
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, RunRow] = {}
        self.order: list[str] = []
        self._index: RunsIndex | None = None
        self._refresher: Worker | None = None
        self.compare_mark: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-empty", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = str(self.console.home)
        table = self.query_one("#runs", DataTable)
        for label, key in COLUMNS:
            table.add_column(label, key=key)
        self._index = RunsIndex(self.console.home)
        self.action_refresh()
        if self.console.refresh_interval:
            self.set_interval(self.console.refresh_interval, self._tick)

    # -- data -----------------------------------------------------------------------------------------------
    def on_screen_resume(self) -> None:
        self.action_refresh()  # back from a run or its records: show what changed meanwhile

    def _tick(self) -> None:
        if self.is_current:  # no reads while another screen covers this one
            self.action_refresh()

    def action_refresh(self) -> None:
        if self._refresher is not None and self._refresher.is_running:
            return  # the last read is still going (slow disk): skip this tick
        self._refresher = self._load()

    @work(thread=True, exit_on_error=False, name="refresh runs", group="runs")
    def _load(self) -> None:
        assert self._index is not None
        rows = self._index.rows()
        self.app.call_from_thread(self.show_rows, rows)

    def show_rows(self, rows: list[RunRow]) -> None:
        if not self.is_attached:  # popped while a worker was reading
            return
        table = self.query_one("#runs", DataTable)
        order = [r.id for r in rows]
        if order == self.order:
            for row in rows:
                old = self.rows[row.id]
                if old == row:
                    continue
                if old.status != row.status:
                    table.update_cell(row.id, "status", status_text(row.status))
                for key, value, before in zip(CELL_KEYS, row.cells(), old.cells(), strict=True):
                    if value != before:
                        table.update_cell(row.id, key, inert(value))
        else:
            selected = self.selected_run_id()
            table.clear()
            for row in rows:
                progress, records, errors, metric, created, title = row.cells()
                table.add_row(row.label, row.stage, status_text(row.status), progress, records, errors,
                              inert(metric), created, inert(title), key=row.id)
            if selected in order:
                table.move_cursor(row=order.index(selected), animate=False)
        self.rows = {r.id: r for r in rows}
        self.order = order
        self.refresh_bindings()
        empty = self.query_one("#runs-empty", Static)
        empty.display = not rows
        if not rows:
            empty.update(f"No runs under {self.console.home / 'runs'} yet. Press d to launch the demo "
                         f"({demo_text()}), or n to fill in a new run.")

    def selected_run_id(self) -> str | None:
        table = self.query_one("#runs", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def after_job(self) -> None:
        self.action_refresh()

    # -- actions ------------------------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#runs")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_run()

    @on(DataTable.RowHighlighted, "#runs")
    def _row_highlighted(self) -> None:
        self.refresh_bindings()  # the Guided view binding follows the selected run's stage

    def _selected_is_guided(self) -> bool:
        if not self.rows:  # also: not composed yet
            return False
        row = self.rows.get(self.selected_run_id() or "")
        return row is not None and row.stage == "guided"

    def unavailable(self, action: str) -> str | None:
        if action not in ("guided", "calibration"):
            return None
        if not self.rows:  # also: not composed yet
            return "No runs yet: d launches the demo, n a new run."
        row = self.rows.get(self.selected_run_id() or "")
        if row is None:
            return "No run selected."
        return why_not(action, row.id, row.stage)

    def action_guided(self) -> None:
        from tui_app.screens.guided import GuidedScreen

        if self._selected_is_guided() and (store := self._store()):
            self.app.push_screen(GuidedScreen(store))

    def action_refresh_now(self) -> None:
        self.notify(f"re-reading {self.console.runs_dir}", timeout=2)
        self.action_refresh()

    def _store(self) -> RunStore | None:
        run_id = self.selected_run_id()
        if run_id is None:
            self.notify("No run selected.", severity="warning")
            return None
        row = self.rows.get(run_id)
        if row is not None and not row.run_id:
            self.notify(f"Step {row.step} has not started yet: its run is made when the pipeline reaches it.",
                        severity="warning")
            return None
        return RunStore(self.console.runs_dir / run_id)

    def action_open_run(self) -> None:
        from tui_app.screens.run import RunScreen

        if store := self._store():
            self.app.push_screen(RunScreen(store))

    def action_open_records(self) -> None:
        from tui_app.screens.records import RecordsScreen

        if store := self._store():
            self.app.push_screen(RecordsScreen(store))

    def action_curation(self) -> None:
        from tui_app.screens.curation import CurationScreen

        self.app.push_screen(CurationScreen(weak=self.selected_run_id()))

    def action_compare(self) -> None:
        """The first `x` marks the selected run; `x` on another run opens the two side by side."""
        from tui_app.screens.compare import CompareScreen

        if not (store := self._store()):
            return
        if self.compare_mark in (None, store.run_id):
            self.compare_mark = store.run_id
            self.notify(f"{store.run_id} marked as A: select another run and press x to compare them.", timeout=6)
            return
        first = RunStore(self.console.runs_dir / self.compare_mark)
        self.compare_mark = None
        self.app.push_screen(CompareScreen(first, store))

    def action_calibration(self) -> None:
        from tui_app.screens.calibration import open_calibration

        if store := self._store():
            open_calibration(self, store)

    def _status(self, run_id: str | None) -> str:
        row = self.rows.get(run_id or "")
        return row.status if row else ""

    def action_cancel(self) -> None:
        run_id = self.selected_run_id()
        self.cancel_run(run_id, self._status(run_id))

    def action_resume(self) -> None:
        run_id = self.selected_run_id()
        self.resume_run(run_id, self._status(run_id))

    def action_force_resume(self) -> None:
        run_id = self.selected_run_id()
        self.resume_run(run_id, self._status(run_id), force=True)

    def action_new_run(self) -> None:
        from tui_app.screens.launch import LaunchScreen

        self.app.push_screen(LaunchScreen())

    def action_clone_run(self) -> None:
        """The launch form, prefilled from the selected run's spec.toml."""
        import tomllib

        from tui_app.screens.launch import LaunchScreen

        if not (store := self._store()):
            return
        try:
            data = tomllib.loads(store.spec_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            self.notify(f"cannot read {store.run_id}'s spec: {exc}", severity="error")
            return
        stage = str(data.get("stage", ""))
        if stage not in STAGES:
            self.notify(f"{store.run_id}: unknown stage {stage!r}", severity="error")
            return
        self.app.push_screen(LaunchScreen(stage, data, source_run=store.run_id))

    def action_demo(self) -> None:
        self.notify("launching the demo pipeline…", timeout=3)
        self._launch_demo()

    @work(thread=True, exit_on_error=False, name="launch demo", group="jobs")
    def _launch_demo(self) -> None:
        from experiments import api
        from experiments.demo import demo_spec

        run_id = api.launch(demo_spec(limit=DEMO_LIMIT), self.console.home)
        self.app.call_from_thread(self.notify, f"demo launched: {run_id}", title="demo")
        self.app.call_from_thread(self.action_refresh)

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            ("New run", "The launch form: any stage, fields from its spec", self.action_new_run),
            ("Clone run with edits", "The launch form, prefilled from the selected run's spec",
             self.action_clone_run),
            ("Launch demo", f"Inference, grading and tagging: {demo_text()}", self.action_demo),
            ("Open run", "Progress, logs, bad items and summary of the selected run", self.action_open_run),
            ("Open records", "Records of the selected run", self.action_open_records),
            ("Curation", "Pass-rate buckets of a weak and a strong run, thresholds, export", self.action_curation),
            ("Open calibration", "Calibration tables and plots of the selected evaluation/delegation run",
             self.action_calibration),
            ("Cancel run", "Stop the selected run's workers", self.action_cancel),
            ("Resume run", "Restart the selected run; finished chunks are kept", self.action_resume),
            ("Force-resume run", "Delete the selected run's chunks and recompute", self.action_force_resume),
            ("Refresh runs", "Re-read the runs folder now", self.action_refresh),
            ("Compare two runs", "Mark the selected run (A), then pick another (B): accuracy by domain, the "
             "questions where they differ", self.action_compare),
        ] + ([("Guided view", "The selected guided run: tokens in two colours, statistics, the (c, k) grid",
               self.action_guided)] if self._selected_is_guided() else [])
