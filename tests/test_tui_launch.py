"""Pilot tests of the Launch screen: fields from the spec, validation as you type, TOML, launch, clone with edits."""

from __future__ import annotations

import tomllib

import pytest
from textual.widgets import Input, Select, Static

from experiments.runs.store import RunStore
from tests.tui_fixtures import make_home, no_workers, settle, wait_for
from tui_app.app import make_app
from tui_app.screens.launch import LaunchScreen
from tui_app.screens.run import RunScreen
from tui_app.screens.runs import RunsScreen
from tui_app.widgets.spec_form import SpecForm, widget_id


@pytest.fixture
def started(monkeypatch):
    """Launches make real run folders and start no worker: [(run id, worker groups)]."""
    return no_workers(monkeypatch)


@pytest.fixture
def home(tmp_path):
    return make_home(tmp_path)


SIZE = (150, 40)
SOURCE = "inference-20260528-202640-aaaa"


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def field(screen, key: str):
    return screen.query_one(f"#{widget_id(key)}")


def error(screen, key: str) -> str:
    return screen.query_one(SpecForm).errors.get(key, "")


async def open_launch(app, pilot, key: str = "n") -> LaunchScreen:
    await settle(pilot)
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.state is not None)
    return app.screen


async def test_n_opens_a_form_that_validates_as_you_type(home, started):
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_launch(app, pilot)
        assert screen.stage == "inference" and screen.state.ok
        assert 'stage = "inference"' in text(screen, "#toml") and "valid" in text(screen, "#form-status")
        temperature = field(screen, "sampling.temperature")
        assert isinstance(temperature, Input) and temperature.value == "0.0"
        assert isinstance(field(screen, "truncation"), Select)
        temperature.focus()
        await pilot.press("end", "backspace", "backspace", "backspace", *"-1")  # typed: validation follows keys
        await wait_for(pilot, lambda: "greater than or equal to 0" in error(screen, "sampling.temperature"))
        label = text(screen, f"#label-{widget_id('sampling.temperature')}")
        assert "✗ Input should be greater than or equal to 0" in label
        assert "not valid yet" in text(screen, "#toml")
        assert "sampling.temperature" in text(screen, "#form-status")
        assert temperature.has_class("-invalid")
        await pilot.press("ctrl+s")  # an invalid form does not launch
        await settle(pilot)
        assert isinstance(app.screen, LaunchScreen) and started == []
        await pilot.press("backspace", "backspace", *"0.7")
        await wait_for(pilot, lambda: "temperature = 0.7" in text(screen, "#toml"))
        assert error(screen, "sampling.temperature") == ""
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_launch_opens_the_new_run(home, started):
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_launch(app, pilot)
        form = screen.query_one(SpecForm)
        form.set_value("dataset.source", "arith")
        form.set_value("dataset.limit", "3")
        form.set_value("title", "from the form")
        await wait_for(pilot, lambda: 'title = "from the form"' in text(screen, "#toml"))
        shown = text(screen, "#toml")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        run = app.screen.store
        assert [run_id for run_id, _ in started] == [run.run_id]
        assert run.spec_text() == shown  # exactly the TOML the form showed
        assert tomllib.loads(run.spec_text())["dataset"] == {"source": "arith", "split": "test", "format": "auto",
                                                            "columns": {}, "limit": 3, "offset": 0}
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_picking_another_stage_rebuilds_the_form(home):
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_launch(app, pilot)
        screen.query_one(SpecForm).set_value("title", "kept")
        await pilot.pause()
        screen.query_one("#stage-picker", Select).value = "grading"
        await wait_for(pilot, lambda: screen.stage == "grading" and screen.query(f"#{widget_id('input_run')}"))
        assert not screen.query(f"#{widget_id('sampling.temperature')}")
        assert field(screen, "title").value == "kept"  # shared fields carry over
        assert "give that run's id" in error(screen, "input_run")
        field(screen, "input_run").value = "grading-20260528-202740-bbbb"
        await wait_for(pilot, lambda: screen.state.ok)
        assert 'input_run = "grading-20260528-202740-bbbb"' in text(screen, "#toml")
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Launch this run" in titles and "Form for tagging" in titles


async def test_e_clones_the_selected_run_with_edits(home, started):
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        runs = app.screen.query_one("#runs")
        runs.move_cursor(row=runs.get_row_index(SOURCE), animate=False)
        screen = await open_launch(app, pilot, "e")
        assert screen.sub_title == f"clone of {SOURCE}"
        source = tomllib.loads(RunStore.open(SOURCE, home).spec_text())
        assert field(screen, "dataset.limit").value == str(source["dataset"]["limit"])
        assert field(screen, "title").value == source["title"]
        screen.query_one(SpecForm).set_value("sampling.max_tokens", "64")
        await wait_for(pilot, lambda: "max_tokens = 64" in text(screen, "#toml"))
        await pilot.click("#launch-button")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        clone = tomllib.loads(app.screen.store.spec_text())
        assert clone["sampling"]["max_tokens"] == 64
        assert {k: v for k, v in clone.items() if k != "sampling"} == \
               {k: v for k, v in source.items() if k != "sampling"}
        assert {k: v for k, v in clone["sampling"].items() if k != "max_tokens"} == \
               {k: v for k, v in source["sampling"].items() if k != "max_tokens"}


async def test_help_and_palette_offer_the_form(home):
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "New run" in titles and "Clone run with edits" in titles
        await pilot.press("question_mark")
        assert {"New run", "Clone + edit"} <= {d for _, d in app.screen.rows}


async def test_run_fields_complete_to_runs_of_the_stage_they_read(home):
    from tests.tui_fixtures import make_run

    make_run(home, "sft-20260528-210000-ffff", stage="sft", created=1_780_000_000)
    make_run(home, "evaluation-20260528-211000-gggg", stage="evaluation", created=1_780_000_100)
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_launch(app, pilot)
        screen.query_one("#stage-picker", Select).value = "evaluation"
        await wait_for(pilot, lambda: screen.stage == "evaluation" and screen.query(f"#{widget_id('adapter')}"))

        async def completes(key: str, typed: str) -> str | None:
            return await field(screen, key).suggester.get_suggestion(typed)

        assert await completes("adapter", "s") == "sft-20260528-210000-ffff"
        assert await completes("adapter", "e") is None  # an evaluation run is no adapter
        assert await completes("threshold_from", "e") == "evaluation-20260528-211000-gggg"
        assert await completes("threshold_from", "s") is None
        assert await completes("input_run", "i") == "inference-20260528-202840-cccc"  # any stage, newest first
