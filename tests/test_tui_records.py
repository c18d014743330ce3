"""Pilot tests of the Records screen: verdict filters, search, detail pane, paging."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from experiments.runs.store import RunStore
from tests.tui_fixtures import make_home, make_run, sample_records, settle, wait_for
from tui_app.app import make_app
from tui_app.screens.records import RecordsScreen
from tui_app.screens.runs import RunsScreen
from tui_app.widgets.detail import RecordDetail
from tui_app.widgets.record_table import RecordTable

SIZE = (150, 40)
GRADED = "grading-20260528-202740-bbbb"


@pytest.fixture
def home(tmp_path):
    return make_home(tmp_path)


async def open_records(app, pilot, run_id: str, **kwargs) -> RecordsScreen:
    await settle(pilot)
    app.push_screen(RecordsScreen(RunStore(app.runs_dir / run_id), **kwargs))
    await settle(pilot)
    return app.screen


def rows(screen) -> int:
    return screen.query_one("#records", RecordTable).row_count


def detail(screen) -> str:
    return str(screen.query_one("#detail", RecordDetail).render())


async def test_filters_change_rows(home):
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_records(app, pilot, GRADED)
        assert rows(screen) == 6
        label = str(screen.query_one("#filter-label").render())
        assert "all 6" in label and "correct 2" in label and "incorrect 4" in label and "ungraded 0" in label
        for key, expected, mark in (("y", 2, "✓"), ("n", 4, "✗"), ("u", 0, None), ("a", 6, None)):
            await pilot.press(key)
            await settle(pilot)
            assert rows(screen) == expected, key
            if mark:
                table = screen.query_one("#records", RecordTable)
                assert {str(table.get_row_at(i)[3]) for i in range(expected)} == {mark}


async def test_detail_pane_follows_the_cursor(home):
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_records(app, pilot, GRADED)
        assert "Question 0: what is 0 plus 0?" in detail(screen)  # first row shown at once
        await pilot.press("down")
        await pilot.pause()
        shown = detail(screen)
        assert "Question 1: what is 1 plus 1?" in shown
        assert "Adding 1 and 1 step by step gives 3." in shown  # response
        assert "GOLD\n2" in shown and "EXTRACTED\n3" in shown
        assert "incorrect (ok): 3 != gold 2" in shown
        assert "CONFIDENCE TOKEN" not in shown and "JUDGE REASONING" not in shown


async def test_judging_run_over_ungraded_inference_uses_judge_verdicts(tmp_path):
    """Issue 7 k: without a rule verdict the judge's verdict counts (and filters); no verdict stays ungraded."""
    make_run(tmp_path, "judging-20260528-000000-aaaa", stage="judging", records=sample_records(6, judged=True))
    app = make_app(tmp_path, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_records(app, pilot, "judging-20260528-000000-aaaa")
        label = str(screen.query_one("#filter-label").render())
        assert "correct 2" in label and "incorrect 2" in label and "ungraded 2" in label
        assert "correct (judge)" in detail(screen)
        assert "JUDGE REASONING\nThe final line matches the gold answer." in detail(screen)
        for key, expected, mark in (("y", 2, "✓"), ("n", 2, "✗"), ("u", 2, "?")):
            await pilot.press(key)
            await settle(pilot)
            table = screen.query_one("#records", RecordTable)
            assert table.row_count == expected
            assert {str(table.get_row_at(i)[3]) for i in range(expected)} == {mark}


async def test_tagged_run_shows_the_token_after_the_response(tmp_path):
    make_run(tmp_path, "tagging-20260528-000000-aaaa", stage="tagging", records=sample_records(3, tagged=True))
    app = make_app(tmp_path, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_records(app, pilot, "tagging-20260528-000000-aaaa")
        await pilot.press("down")
        await pilot.pause()
        assert "CONFIDENCE TOKEN\n<UN_MATH>" in detail(screen)
        table = screen.query_one("#records", RecordTable)
        assert [str(table.get_row_at(i)[6]) for i in range(3)] == ["<CN_MATH>", "<UN_MATH>", "<UN_MATH>"]


async def test_search_focus_typing_and_escape(home):
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_records(app, pilot, GRADED)
        await pilot.press("slash")
        search = screen.query_one("#search", Input)
        assert search.has_focus
        await pilot.press(*"any")  # 'a', 'n', 'y' go into the box, not to the filters
        assert search.value == "any" and screen.which == "all"
        await wait_for(pilot, lambda: screen.query_text == "any")
        await settle(pilot)
        assert rows(screen) == 0
        search.value = ""
        search.value = "question 3"
        await pilot.press("enter")  # enter applies at once and returns to the table
        await settle(pilot)
        assert rows(screen) == 1 and "Question 3" in detail(screen)
        assert screen.query_one("#records", RecordTable).has_focus
        await pilot.press("y")  # filter and search combine (record 3 is correct)
        await settle(pilot)
        assert rows(screen) == 1
        await pilot.press("n")
        await settle(pilot)
        assert rows(screen) == 0
        await pilot.press("slash", "escape")  # escape leaves the box first ...
        assert isinstance(app.screen, RecordsScreen)
        await pilot.press("escape")  # ... then the screen
        assert isinstance(app.screen, RunsScreen)


async def test_records_load_a_page_at_a_time(tmp_path):
    make_run(tmp_path, "grading-20260528-000000-page", stage="grading", records=sample_records(30),
             chunk_size=4)
    app = make_app(tmp_path, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_records(app, pilot, "grading-20260528-000000-page", page_size=10)
        assert rows(screen) == 10 and not screen.pager.exhausted
        assert "first 10 shown" in str(screen.query_one("#filter-label").render())
        await pilot.press("m")
        await settle(pilot)
        assert rows(screen) == 20
        await pilot.press("ctrl+end")  # reaching the end of what is loaded reads the next page
        await settle(pilot)
        await pilot.press("ctrl+end")
        await settle(pilot)
        assert rows(screen) == 30 and screen.pager.exhausted
        assert "30 shown" in str(screen.query_one("#filter-label").render())
        assert "Question 29" in detail(screen)


async def test_an_inference_run_shows_the_verdicts_of_its_grading_run(home):
    """The answers are the inference run's; verdicts come from the grading run that reads it, and a line above
    the table says so."""
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_records(app, pilot, "inference-20260528-202640-aaaa")
        assert rows(screen) == 6
        note = str(screen.query_one("#records-note").render())
        assert "verdicts from grading-20260528-202740-bbbb" in note
        await pilot.press("y")
        await settle(pilot)
        assert rows(screen) == 2  # examples 0 and 3 are answered right (tests.stage_records)
        assert all(r["correct"] is True and r["grade_status"] == "ok" for r in screen.rows)
        assert "correct 2" in str(screen.query_one("#filter-label").render())
        titles = [c.title for c in app.get_system_commands(screen)]
        assert "Show correct records" in titles and "Search records" in titles


async def test_an_ungraded_run_says_where_verdicts_would_come_from(home):
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_records(app, pilot, "inference-20260528-202840-cccc")
        await pilot.press("y")
        await settle(pilot)
        assert rows(screen) == 0
        note = str(screen.query_one("#records-note").render())
        assert "no verdicts" in note and "confconsole grade inference-20260528-202840-cccc" in note


def test_overlay_finds_the_readers_of_an_inference_run(home):
    from experiments.views.verdicts import overlay_for

    answers = RunStore.open("inference-20260528-202640-aaaa", home)
    overlay = overlay_for(answers, home)
    assert [s.run_id for s in overlay.sources] == ["grading-20260528-202740-bbbb"]
    assert overlay_for(RunStore.open("grading-20260528-202740-bbbb", home), home) is None  # has its own


async def test_g_reloads_chunks_written_meanwhile(home):
    store = RunStore.open("inference-20260528-202840-cccc", home)
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_records(app, pilot, store.run_id)
        assert rows(screen) == 3
        store.write_chunk(1, sample_records(6, graded=False)[3:])  # the worker finished another chunk
        await pilot.press("g")
        await settle(pilot)
        assert rows(screen) == 6
        assert "all 6" in str(screen.query_one("#filter-label").render())


def test_a_pipeline_step_waiting_for_its_grader_says_so(home):
    from experiments.views.verdicts import overlay_for

    pipeline = RunStore.create('stage = "pipeline"\n[[steps]]\nname = "infer"\nstage = "inference"\n'
                               '[[steps]]\nname = "grade"\nstage = "grading"\n', "pipeline", home,
                               run_id="pipeline-20260528-230000-pppp")
    pipeline.update_manifest(step_order=["infer", "grade"])
    answers = make_run(home, "inference-20260528-230001-qqqq", records=sample_records(3, graded=False),
                       extra={"pipeline": pipeline.run_id, "step": "infer"})
    note = overlay_for(answers, home).note()
    assert note.startswith("no verdicts yet: step grade of pipeline-20260528-230000-pppp has not run yet")
