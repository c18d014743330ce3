"""The confconsole app: `make_app(home=...)` builds it; `confconsole` with no arguments runs it.

Screens: Runs (home) -> Run (live progress, log, bad items, summary) -> Records (filters, search, detail).
Only `experiments` is imported here (never `backends`, torch or transformers), so the app starts fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from experiments.runs import locations
from tui_app.screens.base import ConsoleScreen
from tui_app.screens.dialogs import HelpScreen
from tui_app.screens.runs import RunsScreen


class ConfConsoleApp(App[None]):
    TITLE = "confconsole"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(self, home: Path, refresh_interval: float = 1.0, poll_interval: float = 0.25) -> None:
        super().__init__()
        self.home = home
        self.refresh_interval = refresh_interval
        self.poll_interval = poll_interval

    @property
    def runs_dir(self) -> Path:
        return locations.runs_dir(self.home)

    def get_default_screen(self) -> Screen:
        return RunsScreen()

    def on_mount(self) -> None:
        # pyarrow, numpy and pandas take about a second to import: do it while the person reads the Runs
        # screen, so the first Records screen opens at once
        self.run_worker(_warm_imports, thread=True, exit_on_error=False, name="warm imports", group="warm")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        if isinstance(screen, ConsoleScreen):
            for title, help_text, callback in screen.palette_commands():
                yield SystemCommand(title, help_text, callback)
        yield SystemCommand("Help", "Keys of this screen", self.action_help)
        yield from super().get_system_commands(screen)


def _warm_imports() -> None:
    import pandas  # noqa: F401  (pyarrow's to_numpy imports it on first use)
    import pyarrow.compute  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import experiments.views.records_query  # noqa: F401  (numpy, the records index)


def make_app(home: str | os.PathLike[str] | None = None, *, refresh_interval: float = 1.0,
             poll_interval: float = 0.25) -> ConfConsoleApp:
    """The app over `home` (else `$CONFCONSOLE_HOME`, else the platform data dir).

    `refresh_interval` (runs table) and `poll_interval` (run screen) are in seconds; 0 turns the timer off
    (tests, snapshots).
    """
    return ConfConsoleApp(locations.home(home), refresh_interval=refresh_interval,
                          poll_interval=poll_interval)
