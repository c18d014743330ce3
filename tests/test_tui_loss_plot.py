"""Pilot tests of the SFT loss curve: the widget draws a metric event stream; the Run screen mounts it for sft runs."""

from __future__ import annotations

from textual.app import App, ComposeResult

from experiments.runs.emit import Emitter
from experiments.runs.events import MetricEvent
from experiments.runs.state import RunState
from experiments.runs.store import RunStore
from experiments.stages.sft.views import loss_view
from tests.tui_fixtures import make_run, settle, wait_for
from tui_app.app import make_app
from tui_app.screens.run import RunScreen
from tui_app.widgets.loss_plot import LossPlot


class PlotApp(App):
    def compose(self) -> ComposeResult:
        yield LossPlot(id="plot")


def synthetic_state(steps: int) -> RunState:
    state = RunState()
    for step in range(1, steps + 1):
        state.consume(MetricEvent(name="loss", value=4.0 / step, step=step))
        if step % 2 == 0:
            state.consume(MetricEvent(name="val_loss", value=4.5 / step, step=step))
    return state


async def test_the_plot_draws_the_series_of_a_metric_stream():
    app = PlotApp()
    async with app.run_test(size=(100, 30)) as pilot:
        plot = app.query_one(LossPlot)
        plot.show(loss_view(synthetic_state(6).metrics))
        await pilot.pause()
        assert plot.view.loss[-1] == (6, 4.0 / 6) and len(plot.view.val_loss) == 3
        drawn = plot.render().plain
        assert "loss 0.6667" in drawn and "val loss" in drawn and "step" in drawn
        plot.show(loss_view(synthetic_state(8).metrics))  # new points redraw
        await pilot.pause()
        assert "step 8" in plot.render().plain


async def test_the_run_screen_shows_a_live_loss_plot_for_sft_runs_only(tmp_path):
    home = tmp_path / "home"
    sft = make_run(home, "sft-20260528-210000-ffff", stage="sft", status="running")
    make_run(home, "inference-20260528-210000-aaaa", status="done")
    app = make_app(home, refresh_interval=0, poll_interval=0.05)
    async with app.run_test(size=(150, 50)) as pilot:
        await settle(pilot)
        app.push_screen(RunScreen(RunStore(app.runs_dir / sft.run_id)))
        await settle(pilot)
        emitter = Emitter(sft.events_path, sft.run_id)
        for step in (1, 2, 3):
            emitter.metric("loss", 3.0 - step / 2, step=step, force=True)
        emitter.metric("val_loss", 2.2, step=3, force=True)
        await wait_for(pilot, lambda: bool(app.screen.query(LossPlot)))
        plot = app.screen.query_one(LossPlot)
        await wait_for(pilot, lambda: len(plot.view.loss) == 3)
        assert plot.view.val_loss == [(3, 2.2)]
        app.pop_screen()
        await settle(pilot)
        app.push_screen(RunScreen(RunStore(app.runs_dir / "inference-20260528-210000-aaaa")))
        await settle(pilot)
        assert not app.screen.query(LossPlot)
