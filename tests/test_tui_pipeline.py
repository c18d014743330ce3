"""Pipelines and lineage in the TUI: the Runs screen shows a pipeline as a tree of its steps (status and the key
figure of each; a step not started yet is `pending`), `enter` on a step opens its run, the Run screen names inputs
and readers as links (`i`, `n`, `p` follow them), `e` writes the report, and two runs open side by side (`x`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from experiments.runs.store import RunStore
from experiments.views.compare import compare_runs, compare_text
from tests.tui_fixtures import BASE_TS, make_home, make_run, sample_records, settle, wait_for
from tui_app.app import make_app
from tui_app.screens.compare import CompareScreen
from tui_app.screens.run import RunScreen

SIZE = (170, 44)
PIPE = "pipeline-20260528-210000-ffff"
INFER, GRADE = "inference-20260528-202640-aaaa", "grading-20260528-202740-bbbb"


def make_pipeline_home(tmp_path: Path) -> Path:
    """make_home's inference -> grading made the first two steps of a pipeline whose tagging step is pending."""
    home = make_home(tmp_path)
    for run_id, step in ((INFER, "infer"), (GRADE, "grade")):
        store = RunStore.open(run_id, home)
        store.update_manifest(pipeline=PIPE, step=step)
    make_run(home, PIPE, stage="pipeline", status="running", created=BASE_TS + 300, title="demo loop",
             extra={"step_order": ["infer", "grade", "tag"],
                    "steps": {"infer": {"stage": "inference", "run_id": INFER, "status": "done"},
                              "grade": {"stage": "grading", "run_id": GRADE, "status": "done"},
                              "tag": {"stage": "tagging", "run_id": "", "status": ""}}})
    return home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_pipeline_home(tmp_path)


def table(app) -> DataTable:  # noqa: ANN001
    return app.screen.query_one("#runs", DataTable)


async def test_a_pipeline_is_a_tree_of_its_steps(home: Path) -> None:
    app = make_app(home, refresh_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        t = table(app)
        keys = [t.coordinate_to_cell_key((i, 0)).row_key.value for i in range(t.row_count)]
        at = keys.index(PIPE)
        assert keys[at:at + 4] == [PIPE, INFER, GRADE, f"{PIPE}/tag"]  # the steps follow their pipeline, once
        assert keys.count(INFER) == 1 and t.row_count == 7
        assert str(t.get_cell(INFER, "id")) == "  └ infer"
        assert str(t.get_cell(GRADE, "metric")) == "acc 33.3%"  # the grading step's key figure
        assert str(t.get_cell(f"{PIPE}/tag", "status")) == "pending"
        t.move_cursor(row=at + 3, animate=False)
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, RunScreen)  # a pending step has no run to open (and says so)
        t.move_cursor(row=at + 2, animate=False)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        assert app.screen.store.run_id == GRADE


async def test_run_screen_links_inputs_readers_and_pipeline(home: Path) -> None:
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(RunScreen(RunStore.open(GRADE, home)))
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.lineage is not None)
        await settle(pilot)
        line = str(app.screen.query_one("#lineage", Static).render())
        assert f"pipeline {PIPE} (step grade)" in line and f"inputs {INFER}" in line
        await pilot.press("i")  # the input run
        await wait_for(pilot, lambda: app.screen.store.run_id == INFER)
        await wait_for(pilot, lambda: app.screen.lineage is not None and app.screen.lineage.outputs == [GRADE])
        await pilot.press("n")  # the run that reads it
        await wait_for(pilot, lambda: app.screen.store.run_id == GRADE)
        await wait_for(pilot, lambda: app.screen.lineage is not None)
        await pilot.press("p")  # its pipeline: the steps in order, as links
        await wait_for(pilot, lambda: app.screen.store.run_id == PIPE and app.screen.lineage is not None
                       and app.screen.lineage.steps)
        await settle(pilot)
        line = str(app.screen.query_one("#lineage", Static).render())
        assert "steps infer ✓ → grade ✓ → tag pending" in line


async def test_e_writes_the_report_of_a_run(home: Path) -> None:
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        store = RunStore.open(GRADE, home)
        app.push_screen(RunScreen(store))
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen))
        await pilot.press("e")
        await wait_for(pilot, lambda: (store.outputs_dir / "report.md").exists(), timeout=30)
        text = (store.outputs_dir / "report.md").read_text()
        assert f"grading run {GRADE}" in text and "Accuracy by domain" in text and 'stage = "inference"' in text
        assert "<h2>" in (store.outputs_dir / "report.html").read_text()


def test_compare_two_graded_runs(tmp_path: Path) -> None:
    """Weak vs strong over the same 6 questions: per-domain accuracy, the differing questions, side by side."""
    weak = make_run(tmp_path, "grading-20260528-100000-aaaa", stage="grading", records=sample_records(6))
    strong_records = sample_records(6)
    for r in strong_records[:2]:  # the strong model also gets questions 1 right (0 was right already)
        r["correct"] = True
    strong = make_run(tmp_path, "grading-20260528-100100-bbbb", stage="grading", records=strong_records)
    result = compare_runs(weak, strong, tmp_path)
    assert result.common == 6 and [r["example_id"] for r in result.differ] == [strong_records[1]["example_id"]]
    (row,) = result.accuracy
    assert (row["a_accuracy"], row["b_accuracy"]) == (2 / 6, 3 / 6)
    text = compare_text(result, question=strong_records[1]["example_id"], home=tmp_path)
    assert "1 questions differ: B better on 1" in text and "#0 ✗" in text and "#0 ✓" in text


def test_compare_reads_an_inference_run_through_its_grading_run(home: Path) -> None:
    result = compare_runs(RunStore.open(INFER, home), RunStore.open(GRADE, home), home)
    assert result.a == GRADE and result.b == GRADE and not result.differ
    with pytest.raises(ValueError, match="grade it first"):
        compare_runs(RunStore.open("inference-20260528-202840-cccc", home), RunStore.open(GRADE, home), home)


async def test_x_marks_then_compares(home: Path) -> None:
    app = make_app(home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        t = table(app)
        t.move_cursor(row=t.get_row_index(GRADE), animate=False)
        await pilot.press("x")
        t.move_cursor(row=t.get_row_index(INFER), animate=False)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.result is not None)
        assert app.screen.result.common == 6
        assert app.screen.query_one("#compare-domains", DataTable).row_count == 1


async def test_compare_screen_shows_the_first_differing_questions_records(tmp_path: Path) -> None:
    """Focus lands on the differing questions and both runs' records of the highlighted one show at once."""
    weak = make_run(tmp_path, "grading-20260528-100000-aaaa", stage="grading", records=sample_records(6))
    strong_records = sample_records(6)
    strong_records[1]["correct"] = True
    strong = make_run(tmp_path, "grading-20260528-100100-bbbb", stage="grading", records=strong_records)
    app = make_app(tmp_path, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(CompareScreen(weak, strong))

        def shown() -> bool:
            panes = app.screen.query("#compare-b") if isinstance(app.screen, CompareScreen) else None
            return bool(panes) and "B: grading-20260528-100100-bbbb" in str(panes.first().render())

        await wait_for(pilot, shown)
        assert app.screen.focused is app.screen.query_one("#compare-differ", DataTable)
        assert strong_records[1]["question"] in str(app.screen.query_one("#compare-a").render())
