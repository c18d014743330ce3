"""Keyboard flow of the Launch form: focus starts on the first field that needs input, `tab` walks the fields in
the form's order (no stop on the scroll pane, the section titles or the Launch button), `shift+tab` from the
first field reaches the stage picker. One snapshot per stage's form."""

from __future__ import annotations

import pytest

from experiments.stages import STAGES
from experiments.stages.form import describe_stage, leaves
from tests.tui_fixtures import make_home, settle, steady_cursor
from tui_app.app import make_app
from tui_app.screens.launch import LaunchScreen
from tui_app.widgets.spec_form import widget_id


async def open_form(pilot, stage: str) -> LaunchScreen:
    await settle(pilot)
    pilot.app.push_screen(LaunchScreen(stage))
    await settle(pilot)
    await pilot.pause(0.05)
    return pilot.app.screen


@pytest.mark.parametrize("stage, first", [("inference", "dataset.source"), ("grading", "input_run")])
async def test_focus_and_tab_order_follow_the_form(tmp_path, stage: str, first: str) -> None:
    app = make_app(make_home(tmp_path), refresh_interval=0, poll_interval=0)
    async with app.run_test(size=(140, 40)) as pilot:
        await open_form(pilot, stage)
        assert app.focused is not None and app.focused.id == widget_id(first)
        order = [widget_id(d.key) for d in leaves(describe_stage(stage))]
        start = order.index(widget_id(first))
        if start == 0:
            await pilot.press("shift+tab")
            assert app.focused.id == "stage-picker"
            await pilot.press("tab")
            assert app.focused.id == order[0]  # one tab from the stage to its first field
        seen = [app.focused.id]
        for _ in range(min(8, len(order) - start - 1)):
            await pilot.press("tab")
            seen.append(app.focused.id)
        assert seen == order[start:start + len(seen)]


@pytest.mark.parametrize("stage", list(STAGES))
def test_launch_form_snapshot(stage: str, snap_compare, tmp_path, utc) -> None:
    home = make_home(tmp_path)

    async def ready(pilot):
        await open_form(pilot, stage)
        pilot.app.screen.sub_title = "new run"
        steady_cursor(pilot.app)
        await pilot.pause()

    app = make_app(home, refresh_interval=0, poll_interval=0)
    assert snap_compare(app, terminal_size=(120, 32), run_before=ready)
