"""Pilot tests of the review queue (`v` on Records): order, keys, undo, notes, the agreement table, and reviews that
survive the app being killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from experiments.reviews.store import ReviewStore
from experiments.runs.store import RunStore
from tests.test_reviews import judged_and_graded
from tests.tui_fixtures import make_run, sample_records, settle
from tui_app.app import make_app
from tui_app.screens.agreement import AgreementScreen
from tui_app.screens.records import RecordsScreen
from tui_app.screens.review import ReviewScreen

SIZE = (150, 40)
ROOT = Path(__file__).resolve().parent.parent


async def open_records(app, pilot, run_id: str) -> RecordsScreen:
    await settle(pilot)
    app.push_screen(RecordsScreen(RunStore(app.runs_dir / run_id)))
    await settle(pilot)
    return app.screen


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


def marks(run_dir: Path) -> list[tuple[str, str | None]]:
    return [(e["example_id"][-1], e["verdict"]) for e in map(json.loads, (run_dir / "reviews.jsonl").read_text()
                                                              .splitlines())]


async def test_queue_order_keys_undo_and_note(tmp_path: Path) -> None:
    store = make_run(tmp_path, "judging-r", stage="judging", records=judged_and_graded(9))
    app = make_app(tmp_path, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        records = await open_records(app, pilot, "judging-r")
        assert "disagree 1" in text(records, "#filter-label") and "reviewed 0" in text(records, "#filter-label")
        await pilot.press("v")
        await settle(pilot)
        review = app.screen
        assert isinstance(review, ReviewScreen)
        progress = text(review, "#review-progress")
        assert "0 of 9 reviewed" in progress and "why first: rule and judge disagree" in progress
        assert "Question 3:" in text(review, "#review-detail")  # the disagreement comes first
        await pilot.press("c")  # correct -> next: the first invalid judge verdict
        assert "Question 2:" in text(review, "#review-detail") and "judge verdict invalid" in \
            text(review, "#review-progress")
        await pilot.press("e", *"unit missing", "enter")  # a note waits for the mark
        assert "note waiting: unit missing" in text(review, "#review-progress")
        await pilot.press("w", "s")  # record 2 wrong (with the note), record 5 skipped
        assert "2 of 9 reviewed (1 skipped)" in text(review, "#review-progress")
        assert marks(store.dir) == [("3", "correct"), ("2", "wrong"), ("5", "skip")]
        assert ReviewStore(store.dir).get("gsm8k-test-000002").note == "unit missing"
        await pilot.press("u")  # undo the skip: back on record 5, unreviewed again
        assert "Question 5:" in text(review, "#review-detail") and "2 of 9 reviewed" in \
            text(review, "#review-progress") and "skipped" not in text(review, "#review-progress")
        await pilot.press("left")  # step back to record 2 without marking: its review shows
        assert "HUMAN VERDICT\nincorrect" in text(review, "#review-detail") and "unit missing" in \
            text(review, "#review-detail")
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, AgreementScreen)
        pairs = app.screen.table["pairs"]  # record 3: human right, judge wrong; record 2: judge invalid
        assert (pairs["human_vs_judge"]["n"], pairs["human_vs_judge"]["agree"]) == (1, 0)
        assert pairs["human_vs_rule"]["confusion"] == [[1, 0], [0, 1]]
        await pilot.press("escape")
        await pilot.press("escape")  # back to Records: counts and marks follow the reviews
        await settle(pilot)
        assert isinstance(app.screen, RecordsScreen)
        label = text(records, "#filter-label")
        assert "reviewed 2" in label
        await pilot.press("r")
        await settle(pilot)
        assert records.query_one("#records").row_count == 2
        await pilot.press("p")  # verdict policy best: the human's verdicts count
        await settle(pilot)
        assert "verdict best" in text(records, "#filter-label")
        assert {str(records.query_one("#records").get_row_at(i)[3]) for i in range(2)} == {"✓ ✎", "✗ ✎"}


async def test_keys_that_cannot_act_say_why(tmp_path: Path) -> None:
    make_run(tmp_path, "inference-u", records=sample_records(3, graded=False))
    app = make_app(tmp_path, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await open_records(app, pilot, "inference-u")
        for key in ("v", "d", "t", "A", "E"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, RecordsScreen), key
        said = [n.message for n in app._notifications]
        assert any("no rule or judge verdicts" in m for m in said)
        assert any("one domain only (gsm8k)" in m for m in said)
        assert any("no confidence tokens" in m for m in said)
        assert any("agreement needs two of rule, judge and human" in m for m in said)
        assert any("No reviews to export yet" in m for m in said)


KILLED_SESSION = """
import asyncio, os, signal, sys
sys.path.insert(0, {root!r})
from experiments.runs.store import RunStore
from tests.tui_fixtures import settle
from tui_app.app import make_app
from tui_app.screens.records import RecordsScreen

async def main():
    app = make_app({home!r}, refresh_interval=0)
    async with app.run_test(size=(150, 40)) as pilot:
        await settle(pilot)
        app.push_screen(RecordsScreen(RunStore(app.runs_dir / "judging-k")))
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        await pilot.press("c", "w")
        print("marked", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no clean exit, no flush, no atexit

asyncio.run(main())
"""


async def test_reviews_survive_the_app_being_killed(tmp_path: Path) -> None:
    store = make_run(tmp_path, "judging-k", stage="judging", records=judged_and_graded(6))
    script = KILLED_SESSION.format(root=str(ROOT), home=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -signal.SIGKILL and "marked" in proc.stdout, proc.stderr[-2000:]
    assert marks(store.dir) == [("3", "correct"), ("2", "wrong")]
    app = make_app(tmp_path, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        records = await open_records(app, pilot, "judging-k")
        assert "reviewed 2" in text(records, "#filter-label")
        await pilot.press("v")
        await settle(pilot)
        progress = text(app.screen, "#review-progress")
        assert "2 of 6 reviewed" in progress and "record 3 of 6" in progress  # on at the first open record
        assert "Question 5:" in text(app.screen, "#review-detail")
        await pilot.press("u")  # undo still reaches the killed session's last mark
        assert "Question 2:" in text(app.screen, "#review-detail") and "1 of 6 reviewed" in \
            text(app.screen, "#review-progress")
