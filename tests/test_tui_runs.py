"""Pilot tests of the Runs (home) screen: listing, live refresh, open, demo, cancel, resume, help, palette."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from textual.widgets import DataTable

from experiments import api
from experiments.runs import jobs
from experiments.runs.emit import Emitter
from experiments.runs.store import RunStore
from tests.tui_fixtures import BASE_TS, DEAD_PID, make_home, make_run, sample_records, settle, wait_for
from tui_app.app import make_app
from tui_app.screens.dialogs import ConfirmScreen, HelpScreen
from tui_app.screens.records import RecordsScreen
from tui_app.screens.run import RunScreen
from tui_app.screens.runs import RunsScreen

SIZE = (150, 40)
RUNNING = "inference-20260528-202840-cccc"
INTERRUPTED = "tagging-20260528-203040-eeee"


@pytest.fixture
def home(tmp_path):
    return make_home(tmp_path)


@pytest.fixture
def notes(monkeypatch):
    """Every notification the app shows: (message, severity)."""
    from textual.app import App

    seen: list[tuple[str, str]] = []
    original = App.notify

    def notify(self, message, *args, **kwargs):
        seen.append((str(message), kwargs.get("severity", "information")))
        return original(self, message, *args, **kwargs)

    monkeypatch.setattr(App, "notify", notify)
    return seen


def table(app) -> DataTable:
    return app.screen.query_one("#runs", DataTable)


def select(app, run_id: str) -> None:
    t = table(app)
    t.move_cursor(row=t.get_row_index(run_id), animate=False)


def cell(app, run_id: str, column: str) -> str:
    return str(table(app).get_cell(run_id, column))


async def test_lists_runs_with_status_progress_and_errors(home):
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert app.title == "confconsole"
        t = table(app)
        assert t.row_count == 5
        assert t.coordinate_to_cell_key((0, 0)).row_key.value == INTERRUPTED  # newest first
        assert cell(app, INTERRUPTED, "status") == "interrupted"
        assert cell(app, "grading-20260528-202940-dddd", "status") == "failed"
        assert cell(app, RUNNING, "status") == "running"
        assert cell(app, RUNNING, "progress") == "3/8 (38%)"
        assert cell(app, RUNNING, "errors") == "2"
        assert cell(app, "grading-20260528-202740-bbbb", "records") == "6"
        assert cell(app, RUNNING, "title") == "live: gsm8k x8"
        keys = {key for key, b in app.active_bindings.items() if b.binding.show}
        assert {"enter", "o", "n", "e", "d", "c", "r", "R", "q", "question_mark"} <= keys


async def test_refresh_updates_in_place_and_keeps_cursor(home):
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        select(app, RUNNING)
        store = RunStore.open(RUNNING, home)
        Emitter(store.events_path, RUNNING).progress(6, 8, force=True)
        app.screen.action_refresh()
        await settle(pilot)
        assert cell(app, RUNNING, "progress") == "6/8 (75%)"
        assert app.screen.selected_run_id() == RUNNING
        # a new run sorts first: the table is rebuilt and the cursor follows the selected run
        make_run(home, "inference-20260528-210000-ffff", created=BASE_TS + 999, title="new")
        app.screen.action_refresh()
        await settle(pilot)
        assert table(app).row_count == 6
        assert app.screen.selected_run_id() == RUNNING


async def test_refresh_timer_picks_up_new_runs(home):
    app = make_app(home, refresh_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: table(app).row_count == 5)
        make_run(home, "inference-20260528-210000-ffff", created=BASE_TS + 999)
        await wait_for(pilot, lambda: table(app).row_count == 6)


async def test_empty_home_shows_hint(tmp_path):
    app = make_app(tmp_path, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        hint = app.screen.query_one("#runs-empty")
        assert hint.display and "Press d" in str(hint.render())
        assert "20 arith questions" in str(hint.render()) and "n to fill in a new run" in str(hint.render())


async def test_enter_opens_run_and_o_opens_records(home):
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        select(app, RUNNING)
        await pilot.press("enter")
        assert isinstance(app.screen, RunScreen) and app.screen.store.run_id == RUNNING
        await settle(pilot)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("o")
        assert isinstance(app.screen, RecordsScreen) and app.screen.store.run_id == RUNNING
        await settle(pilot)


async def test_d_launches_demo_in_a_worker(home, monkeypatch, notes):
    launched = []
    monkeypatch.setattr(api, "launch",
                        lambda spec, home: launched.append((spec, home)) or "inference-demo-1")
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        spec, used_home = launched[0]
        assert spec.stage == "inference" and spec.dataset.limit == 20 and used_home == home
        assert spec.dataset.source == "arith"  # the demo the embedded model gets partly right
        assert any("inference-demo-1" in message for message, _ in notes)


async def test_c_cancels_a_real_worker_after_confirmation(home):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        store = make_run(home, "inference-20260528-220000-abcd", status="running", created=BASE_TS + 999,
                         pids=[proc.pid], progress=(1, 8))
        app = make_app(home, refresh_interval=0)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            select(app, store.run_id)
            assert cell(app, store.run_id, "status") == "running"
            await pilot.press("c")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")  # declined: nothing happens
            await settle(pilot)
            assert proc.poll() is None
            await pilot.press("c")
            await pilot.press("y")
            await wait_for(pilot, lambda: store.manifest()["status"] == "cancelled", timeout=15)
            await settle(pilot)
            assert cell(app, store.run_id, "status") == "cancelled"
        assert proc.wait(timeout=5) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_r_resumes_and_R_force_resumes(home, monkeypatch):
    calls = []

    def fake_start(store, spec, home_path, registry):
        calls.append((store.run_id, len(store.done_chunks())))
        store.update_manifest(status="running", pids=[DEAD_PID])
        return [DEAD_PID]

    monkeypatch.setattr(jobs, "start_workers", fake_start)
    store = make_run(home, "inference-20260528-230000-abcd", status="running", pids=[DEAD_PID],
                     created=BASE_TS + 999, records=sample_records(8))
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        select(app, store.run_id)
        assert cell(app, store.run_id, "status") == "interrupted"
        await pilot.press("r")
        await wait_for(pilot, lambda: calls)
        assert calls == [(store.run_id, 2)]  # finished chunks kept
        assert store.manifest()["resumed"] == 1
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: len(calls) == 2)
        assert calls[1] == (store.run_id, 0)  # chunks cleared first


async def test_failed_action_becomes_error_notification(home, notes):
    store = make_run(home, "inference-20260528-230000-live", status="running", pids=[os.getpid()],
                     created=BASE_TS + 999)
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        select(app, store.run_id)
        await pilot.press("r")  # still running: jobs.resume refuses
        await wait_for(pilot, lambda: any(sev == "error" for _, sev in notes))
        assert any("still running" in message for message, sev in notes if sev == "error")
        assert isinstance(app.screen, RunsScreen)  # the app survives


async def test_done_runs_are_not_cancelled_or_plainly_resumed(home, monkeypatch, notes):
    calls = []
    monkeypatch.setattr(api, "cancel", lambda *a, **k: calls.append("cancel"))
    monkeypatch.setattr(api, "resume", lambda *a, **k: calls.append("resume"))
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        select(app, "grading-20260528-202740-bbbb")
        await pilot.press("c", "r")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen) and calls == []
        warnings = [m for m, sev in notes if sev == "warning"]
        assert any("nothing to cancel" in m for m in warnings) and any("R recomputes" in m for m in warnings)


async def test_help_and_palette(home):
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        descriptions = [d for _, d in app.screen.rows]
        expected = {"Open", "Records", "New run", "Clone + edit", "Demo", "Cancel", "Resume", "Force resume", "Quit",
                    "Help"}
        assert expected <= set(descriptions)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Launch demo", "Open run", "Open records", "Cancel run", "Resume run",
                      "Force-resume run"):
            assert title in titles
