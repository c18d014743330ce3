"""No silent keys: every binding of every screen (and the app's) is pressed with an unsuitable run in view (a
failed grading run: not guided, not an evaluation, read by nothing; a guided run with no tokens yet; no pair of
runs to curate), and each press must answer visibly (a notification, another screen, or a change on the screen)
without an exception.

Bindings are read from the classes, so a key added later is pressed too. A press "changes the screen" when the
app's screenshot (its rendered text and styles) differs after the press has settled.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.screen import Screen

from tests.calibration_fixtures import reference_runs
from tests.tui_fixtures import make_home, make_run, no_workers, settle
from tui_app.app import ConfConsoleApp, make_app
from tui_app.screens.calibration import CalibrationScreen
from tui_app.screens.curation import CurationScreen
from tui_app.screens.dialogs import ConfirmScreen, HelpScreen
from tui_app.screens.guided import GuidedScreen
from tui_app.screens.launch import LaunchScreen
from tui_app.screens.records import RecordsScreen
from tui_app.screens.run import RunScreen
from tui_app.screens.runs import RunsScreen

FAILED = "grading-20260528-202940-dddd"  # failed, not guided, not an evaluation, no run reads it
EMPTY_GUIDED = "guided-20260528-220000-none"
SIZE = (120, 30)


def keys_of(cls: type[Any]) -> list[str]:
    """The keys a class binds, once each (a contextual key has two bindings), in declaration order."""
    keys: list[str] = []
    for binding in Binding.make_bindings(cls.BINDINGS):
        for key in binding.key.split(","):
            if key.strip() not in keys:
                keys.append(key.strip())
    return keys


def store(app: ConfConsoleApp, run_id: str) -> Any:
    from experiments.runs.store import RunStore

    return RunStore(app.runs_dir / run_id)


Opener = Callable[[ConfConsoleApp], Screen | None]
SCREENS: dict[str, tuple[type[Any], Opener]] = {
    "runs": (RunsScreen, lambda app: None),
    "run": (RunScreen, lambda app: RunScreen(store(app, FAILED))),
    "records": (RecordsScreen, lambda app: RecordsScreen(store(app, FAILED))),
    "launch": (LaunchScreen, lambda app: LaunchScreen("tagging")),  # no input run: cannot launch
    "calibration": (CalibrationScreen, lambda app: CalibrationScreen(store(app, "evaluation-20260101-000000-ref0"))),
    "guided": (GuidedScreen, lambda app: GuidedScreen(store(app, EMPTY_GUIDED))),
    "curation": (CurationScreen, lambda app: CurationScreen(weak=FAILED)),  # one finished graded run: no pair
    "confirm": (ConfirmScreen, lambda app: ConfirmScreen("Cancel run x?")),
    "help": (HelpScreen, lambda app: HelpScreen(app.screen)),
}
APP_KEYS = [k for k in keys_of(ConfConsoleApp) if k != "q"]  # q quits: pressed last, on its own


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = make_home(tmp_path / "home")
    monkeypatch.setenv("CONFCONSOLE_HOME", str(home))
    reference_runs(home)
    make_run(home, EMPTY_GUIDED, stage="guided", status="running", title="guided, nothing written yet",
             progress=(0, 10))
    no_workers(monkeypatch)  # `d`, `r`: real run folders, no worker processes
    return home


async def open_screen(pilot: Any, app: ConfConsoleApp, opener: Opener) -> None:
    while len(app.screen_stack) > 1:
        app.pop_screen()
    await settle(pilot)
    runs = app.screen
    assert isinstance(runs, RunsScreen)
    runs.query_one("#runs").move_cursor(row=runs.order.index(FAILED))
    await settle(pilot)
    screen = opener(app)
    if screen is not None:
        await app.push_screen(screen)
        await settle(pilot)


async def press_and_see(pilot: Any, app: ConfConsoleApp, key: str) -> str:
    """Press `key`; say how the app answered ("" when it did not)."""
    app.clear_notifications()
    before_screen, before_shot = app.screen, app.export_screenshot()
    await pilot.press(key)
    await settle(pilot)
    if app._notifications:
        return "notification: " + " | ".join(n.message for n in app._notifications)
    if app.screen is not before_screen:
        return f"screen: {type(app.screen).__name__}"
    if app.export_screenshot() != before_shot:
        return "the screen changed"
    return ""


async def test_every_key_answers(home: Path) -> None:
    """One app for all screens (starting an app per screen would double the cost); the failure lists every
    silent screen:key with what each key did."""
    app = make_app(home, refresh_interval=0, poll_interval=0)
    answers: dict[str, str] = {}
    async with app.run_test(size=SIZE) as pilot:
        for name, (cls, opener) in SCREENS.items():
            await open_screen(pilot, app, opener)
            screen = app.screen
            own = keys_of(cls)
            keys = [k for k in own if k != "escape"] + APP_KEYS + ["escape"] * ("escape" in own)  # leaving: last
            for key in keys:
                if app.screen is not screen and screen in app.screen_stack:  # a key pushed a screen over it
                    while app.screen is not screen:
                        app.pop_screen()
                    await settle(pilot)
                elif app.screen is not screen:  # the key left it (escape, or a screen switched in)
                    await open_screen(pilot, app, opener)
                    screen = app.screen
                assert isinstance(app.screen, cls), f"{name}: opened {type(app.screen).__name__}"
                answers[f"{name}:{key}"] = await press_and_see(pilot, app, key)
    assert app._exception is None, app._exception
    silent = [key for key, answer in answers.items() if not answer]
    assert not silent, f"silent keys {silent}; answers {answers}"
    assert len(answers) >= 50


async def test_q_quits(home: Path) -> None:
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running or app._exit_renderables is not None
