"""Pilot tests of the Guided screen over a synthetic guided run whose events are appended while it is open."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from textual.widgets import DataTable, OptionList, Static

from experiments.runs.store import RunStore
from tests.guided_fixtures import cell, make_guided_run, pieces, stream_name
from tests.tui_fixtures import make_home, settle, wait_for
from tui_app.app import make_app
from tui_app.screens.dialogs import HelpScreen
from tui_app.screens.guided import GuidedScreen
from tui_app.screens.run import RunScreen
from tui_app.widgets.guided import BASE_STYLE, ORACLE_STYLE

SIZE = (150, 40)
GUIDED = "guided-20260528-210000-gggg"


@pytest.fixture
def guided(tmp_path):
    home = make_home(tmp_path)
    store, emitter = make_guided_run(home, GUIDED)
    return home, store, emitter


def rendered(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def spans_by_colour(screen) -> dict[str, str]:
    """The sequence's text per colour (from the Rich spans of the token pane)."""
    text = screen.query_one("#token-text", Static).content
    plain = str(text)
    out = {BASE_STYLE: "", ORACLE_STYLE: ""}
    for span in text.spans:
        for colour in out:
            if str(span.style).startswith(colour):
                out[colour] += plain[span.start:span.end]
    return out


def stats(screen) -> dict[str, str]:
    """The token pane's (label, value) rows as printed."""
    console = Console(width=60, record=True, file=io.StringIO())
    console.print(screen.query_one("#token-stats", Static).content)
    rows = [re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in console.export_text().splitlines()]
    return {row[0]: row[1] for row in rows if len(row) == 2}


def grid_cells(screen) -> list[list[str]]:
    table = screen.query_one("#grid", DataTable)
    return [[str(c).strip() for c in table.get_row_at(i)] for i in range(table.row_count)]


async def open_guided(app, pilot, **kw) -> GuidedScreen:
    await settle(pilot)
    app.push_screen(GuidedScreen(RunStore(app.runs_dir / GUIDED), **kw))
    await settle(pilot)
    assert isinstance(app.screen, GuidedScreen)
    return app.screen


async def test_view_follows_new_tokens_streams_and_grid_cells(guided):
    home, _store, emitter = guided
    app = make_app(home, refresh_interval=0, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_guided(app, pilot, follow_idle_s=0.0)  # any newer stream takes over at once
        first = stream_name(5, 3, 0)
        await wait_for(pilot, lambda: screen.selected == first)
        colours = spans_by_colour(screen)
        assert colours[BASE_STYLE].startswith("Let x be") and colours[ORACLE_STYLE] == " the number."
        assert "▶ the" in rendered(screen, "#token-text")
        assert grid_cells(screen) == [["c=0", "◆ 20.0%"]]

        # the worker goes on: more tokens of the same sequence, then a new sequence, then grid cells
        emitter.tokens(first, pieces(8, 6, oracle_at=(11,)), force=True)
        await wait_for(pilot, lambda: len(screen.state.tokens(first)) == 14)
        await wait_for(pilot, lambda: "2x = 10,▶ so x =" in rendered(screen, "#token-text"))
        assert spans_by_colour(screen)[ORACLE_STYLE] == " the number. so x ="
        assert screen.cursor == 13  # following: the last token

        second = stream_name(5, 3, 1)
        emitter.tokens(second, pieces(0, 3), force=True)
        await wait_for(pilot, lambda: screen.selected == second)
        assert screen.query_one("#streams", OptionList).option_count == 2
        assert rendered(screen, "#token-text").startswith("Let x be")

        emitter.artifact("outputs/grid.json", "guided_cell", cell(5, 3, 4))
        emitter.artifact("outputs/grid.json", "guided_cell", cell(5, 10, 6))
        emitter.artifact("outputs/grid.json", "guided_cell", {**cell(0, 0, 9), "policy": "oracle_only"})
        await wait_for(pilot, lambda: len(grid_cells(screen)) == 3)
        assert grid_cells(screen) == [
            ["c=0", "◆ 20.0%", "", ""], ["c=5", "", "40.0%", "60.0%"], ["oracle", "★ 90.0%", "", ""]]
        assert rendered(screen, "#grid-note").startswith("4 cells finished")  # (0, 0), (5, 3), (5, 10), oracle


async def test_stepping_over_tokens_shows_their_statistics(guided):
    home, _store, emitter = guided
    app = make_app(home, refresh_interval=0, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_guided(app, pilot)
        await wait_for(pilot, lambda: screen.cursor == 7)
        assert stats(screen)["position"] == "7" and stats(screen)["source"] == "base"
        await pilot.press("left", "left")
        assert screen.cursor == 5 and not screen.follow
        shown = stats(screen)
        assert shown["source"] == "oracle" and shown["entropy (bits)"] == "0.5000"  # 0.1 * position
        assert shown["token"] == "'.'" and shown["consultation"] == "no" and shown["top-1 p"] == "0.1667"
        assert "mode paused" in rendered(screen, "#guided-info")

        await pilot.press("left_square_bracket")
        assert screen.cursor == 3
        assert stats(screen)["consultation"] == "yes" and stats(screen)["token"] == "' the'"
        await pilot.press("left_square_bracket")  # no earlier consultation: the cursor stays
        assert screen.cursor == 3

        emitter.tokens(stream_name(5, 3, 0), pieces(8, 4), force=True)  # paused: new tokens do not move the cursor
        await wait_for(pilot, lambda: len(screen.state.tokens(stream_name(5, 3, 0))) == 12)
        await pilot.pause(0.1)
        assert screen.cursor == 3
        await pilot.press("right_square_bracket")
        assert screen.cursor == 3  # the only consultation
        await pilot.press("f")
        await wait_for(pilot, lambda: screen.cursor == 11)
        assert "mode following" in rendered(screen, "#guided-info")

        await pilot.press("question_mark")  # help lists the screen's keys
        assert isinstance(app.screen, HelpScreen)
        assert {("←", "Prev token"), ("→", "Next token"), ("[", "Prev consult"), ("f", "Follow")} <= \
            set(app.screen.rows)
        assert [title for title, _, _ in screen.palette_commands()] == [
            "Follow the run", "Next consultation", "Previous consultation"]


async def test_picking_a_stream_stops_following(guided):
    home, _store, emitter = guided
    emitter.tokens(stream_name(20, 10, 0), pieces(0, 4, oracle_at=(1,)), force=True)
    app = make_app(home, refresh_interval=0, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_guided(app, pilot)
        await wait_for(pilot, lambda: screen.selected == stream_name(20, 10, 0))
        await pilot.press("up")
        await wait_for(pilot, lambda: screen.selected == stream_name(5, 3, 0))
        assert not screen.follow and screen.cursor == 7
        assert "c=5 k=3  math-test-000000 #0" in rendered(screen, "#text-title")
        emitter.tokens(stream_name(20, 10, 0), pieces(4, 2), force=True)
        await wait_for(pilot, lambda: len(screen.state.tokens(stream_name(20, 10, 0))) == 6)
        await pilot.pause(0.1)
        assert screen.selected == stream_name(5, 3, 0)

        emitter.tokens(stream_name(5, 3, 0), pieces(0, 4), force=True)  # a resumed run replays the sequence
        await wait_for(pilot, lambda: len(screen.state.tokens(stream_name(5, 3, 0))) == 4)
        await wait_for(pilot, lambda: screen.cursor == 3)
        assert rendered(screen, "#token-text") == "Let x be the"


async def test_guided_view_opens_from_run_and_runs_screens_only_for_guided_runs(guided):
    home, _store, _emitter = guided
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        runs = app.screen
        assert runs.selected_run_id() == GUIDED  # newest first
        assert runs.check_action("guided", ())
        await pilot.press("G")
        await settle(pilot)
        assert isinstance(app.screen, GuidedScreen)
        await pilot.press("escape")
        await pilot.press("down")
        await settle(pilot)
        assert not runs.check_action("guided", ())
        await pilot.press("G")
        assert app.screen is runs

        app.push_screen(RunScreen(RunStore(app.runs_dir / GUIDED)))
        await settle(pilot)
        assert app.screen.check_action("guided", ())
        assert any(title == "Guided view" for title, _, _ in app.screen.palette_commands())
        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, GuidedScreen)
        await pilot.press("escape")
        app.switch_screen(RunScreen(RunStore(app.runs_dir / "inference-20260528-202640-aaaa")))
        await settle(pilot)
        assert not app.screen.check_action("guided", ())
        await pilot.press("g")
        assert isinstance(app.screen, RunScreen)
