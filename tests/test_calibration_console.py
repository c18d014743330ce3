"""The Calibration screen (Pilot) and `calibration-export` over the reference's evaluation + delegation runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from textual.widgets import DataTable, TabbedContent
from textual_plotext import PlotextPlot

from experiments.cli.main import main
from experiments.runs.store import RunStore
from experiments.stages.evaluation.views import calibration_view
from tests.calibration_fixtures import finalized_reference
from tests.tui_fixtures import settle, wait_for
from tui_app.app import make_app


@pytest.fixture(scope="module")
def reference_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("calhome")
    finalized_reference(home)
    return home


def test_view_has_every_table_and_plot(reference_home: Path) -> None:
    from experiments.runs.store import RunStore

    view = calibration_view(RunStore.open("delegation-", reference_home))
    assert [t.name for t in view.tables] == ["accuracy_by_domain", "tokens", "metrics", "reliability", "selective",
                                             "performance", "handoff", "sweep"]
    assert [p.name for p in view.plots] == ["reliability", "selective", "frontier"]
    tokens = {r["token"]: r["count"] for r in view.table("tokens").rows}
    assert tokens == {"confident": 345, "uncertain": 143, "missing": 12}
    metrics = {r["metric"]: r["value"] for r in view.table("metrics").rows}
    # calibration accuracy: 298 confident+right, 143 - 30 uncertain+wrong; missing count as misses
    assert metrics["calibration_accuracy"] == pytest.approx((298 + 113) / 500)
    frontier = view.plot("frontier")
    assert frontier.series[-1].label == "chosen" and "delegate the lowest" in view.notes[-1]


async def test_calibration_screen_from_runs_and_run_screens(reference_home: Path) -> None:
    from tui_app.screens.calibration import CalibrationScreen
    from tui_app.screens.run import RunScreen

    app = make_app(home=reference_home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs", DataTable)
        order = [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]
        table.move_cursor(row=order.index("delegation-20260101-000000-ref1"))
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, CalibrationScreen))
        await wait_for(pilot, lambda: app.screen.view is not None)
        await settle(pilot)
        handoff = app.screen.query_one("#table-handoff", DataTable)
        rows = [handoff.get_row_at(i) for i in range(handoff.row_count)]
        assert rows[0][:5] == ["llm-big", "big (delegated)", "121", "155", "78.1%"]
        assert rows[2][2:5] == ["419", "500", "83.8%"]
        app.screen.query_one("#cal-tabs", TabbedContent).active = "cal-plots-tab"
        await settle(pilot)
        frontier = app.screen.query_one("#plot-frontier", PlotextPlot)
        assert frontier.region.height > 5 and app.screen.query("#plot-reliability")
        assert "Accuracy vs cost" in frontier.plt.build()  # drawn by plotext at the widget's size
        app.screen.export_formats = ("csv", "md")  # plots (matplotlib, seconds) are exported by the CLI test
        await pilot.press("e")
        out = reference_home / "runs" / "delegation-20260101-000000-ref1" / "outputs" / "calibration-export"
        await wait_for(pilot, lambda: (out / "sweep.md").exists(), timeout=30)
        assert (out / "handoff.csv").exists()
        await pilot.press("escape")
        # from the Run screen of the evaluation run (its k shows once the manifest says which stage it is)
        table.move_cursor(row=order.index("evaluation-20260101-000000-ref0"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.manifest)
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, CalibrationScreen) and app.screen.view is not None)
        assert app.screen.view.table("performance") is None and app.screen.view.table("tokens")
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, (RunScreen, CalibrationScreen)))
        # an inference run has no calibration: the Run screen says so and stays put
        table.move_cursor(row=order.index("inference-20260101-000000-big0"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)


def test_calibration_export_cli(reference_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "paper"
    assert main(["--home", str(reference_home), "calibration-export", "delegation-", "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    for stem in ("handoff", "performance", "sweep", "tokens", "metrics", "reliability", "accuracy_by_domain"):
        assert {f"{stem}.csv", f"{stem}.md"} <= names
    assert {"frontier.png", "frontier.svg", "reliability.png", "selective.svg"} <= names
    assert (out / "frontier.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((out / "handoff.csv").open()))
    assert [(r["model"], r["correct"], r["total"]) for r in rows] == [("llm-big", "121", "155"),
                                                                      ("slm-1.5b", "298", "345"),
                                                                      ("overall", "419", "500")]
    assert "| overall" in (out / "handoff.md").read_text()
    assert len(list(csv.DictReader((out / "sweep.csv").open()))) == 501
    with pytest.raises(ValueError, match="unknown export format"):
        from experiments.stages.evaluation.export import export_view
        export_view(calibration_view(RunStore.open("delegation-", reference_home)), out, ["pdf"])
