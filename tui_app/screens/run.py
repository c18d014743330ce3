"""One run, live: progress, rate and ETA, metrics, the log tail, bad items and, when done, the summary."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.widgets import DataTable, Footer, Header, Log, ProgressBar, Static

from experiments.runs.events import Event, LogEvent
from experiments.runs.state import EventTail, RunState
from experiments.runs.store import RunStore
from experiments.stages.sft.views import is_sft, loss_view
from experiments.textsafe import inert
from experiments.views.lineage import Lineage, lineage_markup, lineage_of
from experiments.views.runs import error_cells, format_metrics, progress_line, run_info, status_of, summary_text
from tui_app.screens.base import PaletteCommand, PollingScreen, contextual
from tui_app.screens.runs import why_not
from tui_app.widgets.loss_plot import LossPlot
from tui_app.widgets.status import STATUS_STYLES

MAX_BAD_ROWS = 500
LINEAGE_EVERY_S = 2.0
LOG_LINES = 2000


def log_line(event: LogEvent) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
    return f"{stamp} {event.level:<7} {event.message}"


class RunScreen(PollingScreen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("o", "open_records", "Records"),
        Binding("c", "cancel", "Cancel"),
        Binding("r", "resume", "Resume"),
        Binding("R", "force_resume", "Force resume"),
        Binding("n", "next_stage", "Next stage"),
        Binding("i", "input_run", "Input run", show=False),
        Binding("p", "pipeline", "Pipeline", show=False),
        Binding("e", "export_report", "Report"),
        *contextual("k", "calibration", "Calibration"),  # evaluation/delegation runs only
        *contextual("g", "guided", "Guided view"),  # guided runs only
    ]

    def __init__(self, store: RunStore) -> None:
        super().__init__()
        self.store = store
        self.state = RunState()
        self.manifest: dict[str, Any] = {}
        self.status = ""
        self.errors: list[dict[str, Any]] = []
        self._tail = EventTail(store.events_path)
        self._errors_sig: tuple[int, int] | None = (-1, -1)  # never a real stat: the first poll reads
        self.lineage: Lineage | None = None
        self._lineage_read = 0.0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="run-info")
        yield Static("", id="lineage")
        with Horizontal(id="progress-row"):
            yield ProgressBar(id="progress", show_eta=False)
            yield Static("", id="progress-label", markup=False)
        yield Static("", id="metrics", markup=False)
        with Horizontal(id="panes"):
            with Vertical(id="log-pane"):
                yield Static("Log", classes="pane-title")
                yield Log(id="log", max_lines=LOG_LINES)
            with Vertical(id="side-pane"):
                yield Static("Bad items", id="bad-title", classes="pane-title", markup=False)
                yield DataTable(id="bad-items", cursor_type="row")
                yield Static("Summary", classes="pane-title")
                with ScrollableContainer(id="summary-scroll"):
                    yield Static("", id="summary", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.store.run_id
        table = self.query_one("#bad-items", DataTable)
        table.add_column("item", key="item")
        table.add_column("reason", key="reason")
        table.add_column("detail", key="detail")
        self.start_polling()

    # -- polling: file reads in a thread, rendering on the UI thread, at most once per tick ---------------
    def read(self) -> tuple[list[Event], dict[str, Any], list[dict[str, Any]] | None]:
        events = self._tail.poll()
        manifest = self.store.manifest()
        now = time.monotonic()
        if self.lineage is None or now - self._lineage_read > LINEAGE_EVERY_S:  # readers: a scan of the runs
            self._lineage_read = now
            self.lineage = lineage_of(self.store, manifest, self.console.home)
        errors = None
        try:
            stat = self.store.errors_path.stat()
            sig: tuple[int, int] | None = (stat.st_size, stat.st_mtime_ns)
        except FileNotFoundError:
            sig = None
        if sig != self._errors_sig:
            errors = self.store.errors()
            self._errors_sig = sig
        return events, manifest, errors

    def apply(self, events: list[Event], manifest: dict[str, Any],  # type: ignore[override]
              errors: list[dict[str, Any]] | None) -> None:
        new_logs = []
        for event in events:
            self.state.consume(event)
            if isinstance(event, LogEvent):
                new_logs.append(inert(log_line(event)))
        status = status_of(manifest)
        if events or manifest != self.manifest or status != self.status:
            before = self.is_guided, self.manifest.get("stage")
            self.manifest, self.status = manifest, status
            self.render_run(new_logs)
            if (self.is_guided, self.manifest.get("stage")) != before:
                self.refresh_bindings()
        if errors is not None:
            self.errors = errors
            self.render_errors()

    def render_run(self, new_logs: list[str]) -> None:
        info = Text()
        for i, (label, value) in enumerate(run_info(self.manifest, self.status, lineage=False)):
            info.append(("  " if i else "") + f"{label} ", style="dim")
            info.append(inert(value), style=STATUS_STYLES.get(value, "bold") if label == "status" else "bold")
        self.query_one("#run-info", Static).update(info)
        if self.lineage is not None:
            self.query_one("#lineage", Static).update(lineage_markup(self.lineage))

        state, bar = self.state, self.query_one("#progress", ProgressBar)
        counts = self.manifest.get("counts") or {}
        if state.total:
            bar.update(total=state.total, progress=state.done)
        elif self.status == "done":
            bar.update(total=1, progress=1)
        elif counts.get("chunks_total"):
            bar.update(total=counts["chunks_total"], progress=counts.get("chunks_done", 0))
        self.query_one("#progress-label", Static).update(progress_line(state, self.status))
        metrics = format_metrics(state)
        self.query_one("#metrics", Static).update(metrics or "(no metrics)")
        self.render_loss_plot()
        if new_logs:  # a long run opened late: only the tail the widget keeps anyway
            self.query_one("#log", Log).write_lines(new_logs[-LOG_LINES:])
        self.query_one("#summary", Static).update(inert(summary_text(self.manifest) or self._summary_pending()))

    def render_loss_plot(self) -> None:
        """SFT runs: a live loss curve under the metrics line, mounted on the first render."""
        if not is_sft(self.manifest):
            return
        found = self.query(LossPlot)
        plot = found.first() if found else LossPlot(id="loss-plot")
        if not found:
            self.mount(plot, after=self.query_one("#metrics"))
        plot.show(loss_view(self.state.metrics))

    def _summary_pending(self) -> str:
        if self.status in ("running", "queued"):
            return "(the summary appears when the run is done)"
        return "(no summary)"

    def render_errors(self) -> None:
        table = self.query_one("#bad-items", DataTable)
        table.clear()
        for error in self.errors[:MAX_BAD_ROWS]:
            table.add_row(*(inert(cell) for cell in error_cells(error)))
        more = f", first {MAX_BAD_ROWS} shown" if len(self.errors) > MAX_BAD_ROWS else ""
        self.query_one("#bad-title", Static).update(f"Bad items ({len(self.errors)}{more})")

    @on(DataTable.RowSelected, "#bad-items")
    def _bad_item_selected(self, event: DataTable.RowSelected) -> None:
        error = self.errors[event.cursor_row]
        self.notify(inert(error.get("detail") or "(no detail)"), title=inert(f"{error.get('item_id')}: "
                    f"{error.get('reason')}"), timeout=15, markup=False)

    # -- actions ------------------------------------------------------------------------------------------
    def after_job(self) -> None:
        self.poll()

    def action_open_records(self) -> None:
        from tui_app.screens.records import RecordsScreen

        self.app.push_screen(RecordsScreen(self.store))

    def action_calibration(self) -> None:
        from tui_app.screens.calibration import open_calibration

        open_calibration(self, self.store)

    def action_cancel(self) -> None:
        self.cancel_run(self.store.run_id, self.status)

    def action_resume(self) -> None:
        self.resume_run(self.store.run_id, self.status)

    def action_force_resume(self) -> None:
        self.resume_run(self.store.run_id, self.status, force=True)

    @property
    def is_guided(self) -> bool:
        return self.manifest.get("stage") == "guided"

    def unavailable(self, action: str) -> str | None:
        if action not in ("guided", "calibration"):
            return None
        if not self.manifest:
            return f"{self.store.run_id} is still being read."
        return why_not(action, self.store.run_id, str(self.manifest.get("stage", "")))

    def action_guided(self) -> None:
        from tui_app.screens.guided import GuidedScreen

        if self.is_guided:
            self.app.push_screen(GuidedScreen(self.store))

    def action_next_stage(self) -> None:
        outputs = self.lineage.outputs if self.lineage else []
        if not outputs:
            self.notify("No run reads this one yet.", severity="warning")
            return
        self.open_run(outputs[0])

    def action_input_run(self) -> None:
        inputs = self.lineage.inputs if self.lineage else []
        if not inputs:
            self.notify("This run reads no other run.", severity="warning")
            return
        self.open_run(inputs[0])

    def action_pipeline(self) -> None:
        if not (self.lineage and self.lineage.pipeline):
            self.notify("This run is not a step of a pipeline.", severity="warning")
            return
        self.open_run(self.lineage.pipeline)

    def action_export_report(self) -> None:
        self.notify("writing the report…", timeout=3)
        self._write_report()

    @work(thread=True, exit_on_error=False, name="write report", group="report")
    def _write_report(self) -> None:
        from experiments.report.build import build_report
        from experiments.report.render import write_report

        report = build_report(self.store, self.console.home)
        paths = [p for out in ("report.html", "report.md")
                 for p in write_report(report, self.store.outputs_dir / out)][:2]
        self.app.call_from_thread(self.notify, "\n".join(str(p) for p in paths), title="report written",
                                  timeout=12)

    def open_run(self, run_id: str) -> None:
        """Follow a lineage link: the linked run's screen replaces this one (escape goes back to the list)."""
        try:
            store = RunStore.open(run_id, self.console.home)
        except FileNotFoundError:
            self.notify(f"run {run_id} is gone", severity="error")
            return
        self.app.switch_screen(RunScreen(store))

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            ("Open records", "Records of this run", self.action_open_records),
            ("Cancel run", "Stop this run's workers", self.action_cancel),
            ("Resume run", "Restart this run; finished chunks are kept", self.action_resume),
            ("Force-resume run", "Delete this run's chunks and recompute", self.action_force_resume),
            ("Next stage", "Open the run that reads this one", self.action_next_stage),
            ("Export report", "This run (a pipeline: every step) as report.html and report.md in its outputs",
             self.action_export_report),
        ] + ([("Guided view", "Tokens in two colours, their statistics, the (c, k) grid", self.action_guided)]
             if self.is_guided else [])
