"""Snapshot tests of the Runs, Records and Launch screens over fabricated runs with fixed timestamps.

Update after an intended visual change with `pytest tests/test_tui_snapshots.py --snapshot-update`.
The created column is rendered in local time, so these run with TZ=UTC; the home folder (a random tmp path,
shown as the Runs screen's subtitle) is replaced before the screenshot.
"""

from __future__ import annotations

from experiments.runs.store import RunStore
from tests.tui_fixtures import make_home, settle, steady_cursor
from tui_app.app import make_app
from tui_app.screens.launch import LaunchScreen
from tui_app.screens.records import RecordsScreen

SIZE = (140, 24)


def test_runs_screen_snapshot(snap_compare, tmp_path, utc):
    home = make_home(tmp_path)

    async def ready(pilot):
        await settle(pilot)
        pilot.app.screen.sub_title = "HOME"
        await pilot.pause()

    app = make_app(home, refresh_interval=0, poll_interval=0)
    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_records_screen_snapshot(snap_compare, tmp_path, utc):
    home = make_home(tmp_path)

    async def ready(pilot):
        await settle(pilot)
        pilot.app.push_screen(RecordsScreen(RunStore(pilot.app.runs_dir / "grading-20260528-202740-bbbb")))
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)

    app = make_app(home, refresh_interval=0, poll_interval=0)
    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_launch_screen_snapshot(snap_compare, tmp_path, utc):
    """The tagging form prefilled with an input run: fields with help, the live spec.toml, an inline error."""
    home = make_home(tmp_path)

    async def ready(pilot):
        await settle(pilot)
        pilot.app.push_screen(LaunchScreen("tagging", {"input_run": "grading-20260528-202740-bbbb",
                                                       "incorrect_ratio": -1}))
        await settle(pilot)
        await pilot.pause(0.1)
        steady_cursor(pilot.app)
        await pilot.pause()

    app = make_app(home, refresh_interval=0, poll_interval=0)
    assert snap_compare(app, terminal_size=(140, 30), run_before=ready)
