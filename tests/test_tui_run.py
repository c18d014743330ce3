"""Pilot tests of the Run screen: live progress from appended events, metrics, log, bad items, summary."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Log, ProgressBar, Static

from experiments import api
from experiments.report.accuracy import accuracy_table
from experiments.runs import jobs
from experiments.runs.emit import Emitter
from experiments.runs.store import RunStore
from tests.tui_fixtures import DEAD_PID, make_home, sample_records, settle, wait_for
from tui_app.app import make_app
from tui_app.screens.dialogs import ConfirmScreen
from tui_app.screens.records import RecordsScreen
from tui_app.screens.run import RunScreen

SIZE = (150, 40)
RUNNING = "inference-20260528-202840-cccc"


@pytest.fixture
def home(tmp_path):
    return make_home(tmp_path)


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def open_run(app, pilot, run_id: str) -> RunScreen:
    await settle(pilot)
    app.push_screen(RunScreen(RunStore(app.runs_dir / run_id)))
    await settle(pilot)
    assert isinstance(app.screen, RunScreen)
    return app.screen


async def test_progress_log_metrics_and_summary_update_live(home):
    store = RunStore.open(RUNNING, home)
    app = make_app(home, refresh_interval=0, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_run(app, pilot, RUNNING)
        bar = screen.query_one("#progress", ProgressBar)
        await wait_for(pilot, lambda: bar.progress == 3)
        assert bar.total == 8
        assert text(screen, "#progress-label").startswith("3/8 samples (38%)")
        assert "tokens_per_s 41.5" in text(screen, "#metrics")
        assert "status running" in text(screen, "#run-info") and RUNNING in text(screen, "#run-info")
        log = screen.query_one("#log", Log)
        assert any("model loaded in 2.0s" in line for line in log.lines)
        assert "appears when the run is done" in text(screen, "#summary")

        # the worker goes on: events are appended while the screen is open
        emitter = Emitter(store.events_path, RUNNING)
        emitter.metric("tokens_per_s", 55.0, force=True)
        emitter.progress(6, 8, unit="samples", force=True)
        emitter.log("chunk 1 done")
        await wait_for(pilot, lambda: bar.progress == 6)
        await wait_for(pilot, lambda: "tokens_per_s 55" in text(screen, "#metrics"))
        assert text(screen, "#progress-label").startswith("6/8 samples (75%)")
        assert "ETA" in text(screen, "#progress-label")
        await wait_for(pilot, lambda: any("chunk 1 done" in line for line in log.lines))

        emitter.progress(8, 8, unit="samples", force=True)
        emitter.status("done")
        graded = sample_records(8)
        summary = {"accuracy": accuracy_table(graded), "completion_tokens": 99, "finish_reasons": {"stop": 8}}
        store.update_manifest(status="done", summary=summary)
        await wait_for(pilot, lambda: "status done" in text(screen, "#run-info"))
        await wait_for(pilot, lambda: "accuracy" in text(screen, "#summary"))
        summary = text(screen, "#summary")
        assert "smollm2-135m" in summary and "completion_tokens: 99" in summary and "stop: 8" in summary
        assert bar.progress == 8


async def test_bad_items_are_listed_and_update_live(home):
    store = RunStore.open(RUNNING, home)
    app = make_app(home, refresh_interval=0, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_run(app, pilot, RUNNING)
        table = screen.query_one("#bad-items", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        rows = [table.get_row_at(i) for i in range(2)]
        assert rows[0][:2] == ["gsm8k-test-000099", "malformed_row"]
        assert rows[1][1] == "prompt_too_long" and "9000 tokens" in rows[1][2]
        assert text(screen, "#bad-title") == "Bad items (2)"
        store.add_error("gsm8k-test-000007", "missing_answer", "gold answer is empty")
        await wait_for(pilot, lambda: table.row_count == 3)
        assert text(screen, "#bad-title") == "Bad items (3)"


async def test_done_and_failed_runs(home):
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_run(app, pilot, "grading-20260528-202740-bbbb")
        summary = text(screen, "#summary")
        assert "accuracy" in summary and "33.3%" in summary and "statuses: no_answer: 2, ok: 4" in summary
        assert "inputs inference-20260528-202640-aaaa" in text(screen, "#lineage")  # as a link, not in the header
        app.pop_screen()
        screen = await open_run(app, pilot, "grading-20260528-202940-dddd")
        info = text(screen, "#run-info")
        assert "status failed" in info and "grader pool crashed" in info
        assert screen.query_one("#bad-items", DataTable).get_row_at(0)[1] == "grader_timeout"


async def test_next_stage_and_records(home):
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(app, pilot, "inference-20260528-202640-aaaa")
        await pilot.press("n")
        await settle(pilot)
        assert app.screen.store.run_id == "grading-20260528-202740-bbbb"
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, RecordsScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, RunScreen)


async def test_cancel_and_resume_bindings_call_jobs(home, monkeypatch):
    cancelled, started = [], []
    monkeypatch.setattr(api, "cancel", lambda run, home: cancelled.append(run) or run)
    monkeypatch.setattr(jobs, "start_workers", lambda store, spec, home, registry: started.append(store.run_id) or [])
    run_id = "tagging-20260528-203040-eeee"  # interrupted: resumable
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_run(app, pilot, run_id)
        assert "status interrupted" in text(screen, "#run-info")
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: cancelled == [run_id])
        await pilot.press("r")
        await wait_for(pilot, lambda: started == [run_id])
        assert RunStore.open(run_id, home).manifest()["pids"] == [DEAD_PID]  # start_workers was faked


async def test_leaving_while_workers_read_is_safe(home):
    app = make_app(home, refresh_interval=0, poll_interval=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(3):
            screen = RunScreen(RunStore(app.runs_dir / RUNNING))
            app.push_screen(screen)
            await pilot.pause(0.02)
            app.pop_screen()
            await pilot.pause(0.01)
            assert not screen.is_attached
            app.push_screen(RecordsScreen(RunStore(app.runs_dir / RUNNING)))
            await pilot.pause(0.01)
            app.pop_screen()
        await settle(pilot)
        assert app.is_running and app.screen.query_one("#runs")
