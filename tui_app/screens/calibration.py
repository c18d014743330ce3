"""Calibration of an evaluation or delegation run: accuracy by domain, token distribution, metrics, a
reliability diagram, the selective accuracy curve, the delegation table and the accuracy-vs-cost curve with the
chosen point. The view comes from `experiments.stages.evaluation.views` (read in a thread worker); `e` exports
every table (CSV, Markdown) and plot (PNG, SVG) into the run's outputs/calibration-export/."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from experiments.runs.store import RunStore
from experiments.stages.evaluation.views import CalibrationView, Plot, calibration_view, row_cells
from tui_app.screens.base import ConsoleScreen, PaletteCommand

EXPORT_DIR = "calibration-export"
MAX_ROWS = 101  # longer tables (the sweep, the selective curve) are shown evenly thinned; exports keep all rows


def thinned(rows: list, limit: int = MAX_ROWS) -> list:
    if len(rows) <= limit:
        return rows
    step = (len(rows) - 1) / (limit - 1)
    return [rows[round(i * step)] for i in range(limit)]


class CalibrationScreen(ConsoleScreen):
    DEFAULT_CSS = """
    CalibrationScreen #cal-notes { height: auto; padding: 0 1; background: $boost; }
    CalibrationScreen .cal-title { background: $panel; padding: 0 1; text-style: bold; margin-top: 1; }
    CalibrationScreen DataTable { height: auto; max-height: 16; }
    CalibrationScreen #cal-plots { grid-size: 2; grid-gutter: 1; }
    CalibrationScreen PlotextPlot { height: 18; min-height: 12; }
    """
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("e", "export", "Export"),
        Binding("g", "reload", "Reload", show=False),
    ]

    def __init__(self, store: RunStore) -> None:
        from experiments.stages.evaluation.export import FORMATS

        super().__init__()
        self.store = store
        self.view: CalibrationView | None = None
        self.export_formats: tuple[str, ...] = FORMATS

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading…", id="cal-notes", markup=False)
        with TabbedContent(id="cal-tabs"):
            with TabPane("Tables", id="cal-tables-tab"):
                yield VerticalScroll(id="cal-tables")
            with TabPane("Plots", id="cal-plots-tab"):
                yield Grid(id="cal-plots")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"calibration of {self.store.run_id}"
        self._load()

    def action_reload(self) -> None:
        self.notify(f"re-reading the calibration of {self.store.run_id}", timeout=2)
        self._load()

    @work(thread=True, exit_on_error=False, name="read calibration", group="calibration")
    def _load(self) -> None:
        view = calibration_view(self.store)
        self.app.call_from_thread(self.show_view, view)

    async def show_view(self, view: CalibrationView) -> None:
        if not self.is_attached:
            return
        self.view = view
        notes = [n for n in view.notes if n]
        self.query_one("#cal-notes", Static).update(
            f"{view.stage} run {view.run_id}" + ("".join(f"\n{n}" for n in notes)))
        tables = self.query_one("#cal-tables", VerticalScroll)
        await tables.remove_children()
        for table in view.tables:
            widget = DataTable(id=f"table-{table.name}", cursor_type="row", zebra_stripes=True)
            await tables.mount(Static(table.title, classes="cal-title", markup=False), widget)
            widget.add_columns(*table.columns)
            widget.add_rows([row_cells(table, row) for row in thinned(table.rows)])
        plots = self.query_one("#cal-plots", Grid)
        await plots.remove_children()
        for plot in view.plots:
            widget = PlotextPlot(id=f"plot-{plot.name}")
            await plots.mount(widget)
            draw(widget, plot)

    def action_export(self) -> None:
        self._export()

    @work(thread=True, exit_on_error=False, name="export calibration", group="calibration")
    def _export(self) -> None:
        from experiments.stages.evaluation.export import export_view

        out = self.store.outputs_dir / EXPORT_DIR
        written = export_view(self.view or calibration_view(self.store), out, self.export_formats)
        self.app.call_from_thread(self.notify, f"{len(written)} files in {out}", title="exported", timeout=8)

    def palette_commands(self) -> list[PaletteCommand]:
        return [("Export calibration", "Tables as CSV and Markdown, plots as PNG and SVG", self.action_export),
                ("Reload calibration", "Re-read the run's outputs", self.action_reload)]


def draw(widget: PlotextPlot, plot: Plot) -> None:
    """Plot a view's series with plotext (lines, markers for points such as the chosen one)."""
    plt = widget.plt
    plt.clear_figure()
    plt.title(plot.title)
    plt.xlabel(plot.xlabel)
    plt.ylabel(plot.ylabel)
    for series in plot.series:
        if not series.xs:
            continue
        if series.kind == "scatter":
            plt.scatter(series.xs, series.ys, label=series.label, marker="dot" if len(series.xs) > 1 else "x")
        elif series.kind == "bar":
            plt.bar(series.xs, series.ys, label=series.label)
        else:
            plt.plot(series.xs, series.ys, label=series.label)
    if plot.xlim:
        plt.xlim(*plot.xlim)
    if plot.ylim:
        plt.ylim(*plot.ylim)
    widget.refresh()


def open_calibration(screen: ConsoleScreen, store: RunStore) -> None:
    """Push the Calibration screen for an evaluation or delegation run; say why not for any other run."""
    from experiments.stages.evaluation.views import STAGES

    stage = store.manifest().get("stage")
    if stage not in STAGES:
        from experiments.views.show import article

        screen.notify(f"Calibration is for evaluation and delegation runs; {store.run_id} is {article(str(stage))}.",
                      severity="warning")
        return
    screen.app.push_screen(CalibrationScreen(store))
