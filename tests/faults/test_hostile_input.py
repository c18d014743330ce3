"""Bad input through whole runs: a hostile dataset file (every row class the loaders know, control sequences in a
good row and in the file's own name, duplicate ids, a huge prompt) through inference (embedded model) -> grading
-> tagging, then the Run and Records screens and the CLI. Each bad row is recorded with its reason and shown,
the good rows finish, and no raw control sequence reaches the terminal. Files that are bad as a whole (not
UTF-8, a broken Parquet file) fail their run with a message that says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import api
from experiments.cli.main import main
from experiments.datasets.base import DatasetSpec
from experiments.datasets.sources import MAX_QUESTION_CHARS
from experiments.runs.lineage import chain
from experiments.runs.store import RunStore
from experiments.runs.worker import run_attempt
from experiments.specs import BackendSpec, SamplingSpec
from experiments.stages import STAGES
from experiments.stages.inference.spec import InferenceSpec

ESC_Q = "What is 2 + 3? \x1b[2J\x1b]0;pwned\x07\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \u202edlrow\r\x9b31m"
ROWS: list[str] = [
    json.dumps({"id": "dup", "question": ESC_Q, "answer": "#### 5"}),  # 0 good, full of control sequences
    "{not json at all",  # 1 malformed_row
    json.dumps({"question": "Where is the answer?"}),  # 2 missing_field (no answer column)
    json.dumps({"answer": "#### 1"}),  # 3 missing_field
    json.dumps({"question": ["a", "list"], "answer": "#### 1"}),  # 4 wrong_type
    '{"question": NaN, "answer": "#### 1"}',  # 5 nan_value
    json.dumps({"question": "x" * (MAX_QUESTION_CHARS + 1), "answer": "#### 1"}),  # 6 too_long
    json.dumps({"id": "dup", "question": ESC_Q, "answer": "#### 5"}),  # 7 good: the same id and question again
    json.dumps({"question": "Repeat: " + "lorem ipsum " * 80, "answer": "#### 1"}),  # 8 prompt_too_long
    json.dumps({"question": "What is 4 + 4?", "answer": {"nested": 8}}),  # 9 wrong_type (an object gold)
    json.dumps({"question": "What is 1 + 1?", "answer": True}),  # 10 wrong_type (a bool gold)
    json.dumps({"question": "What is 3 + 3?", "answer": "It is six. ####  "}),  # 11 missing_answer
    "\x00\x01\x02 binary junk \x1b[5m",  # 12 malformed_row
    json.dumps({"question": "What is 1 + 1?", "answer": "#### 2"}),  # 13 good
]
BAD = {1: "malformed_row", 2: "missing_field", 3: "missing_field", 4: "wrong_type", 5: "nan_value",
       6: "too_long", 8: "prompt_too_long", 9: "wrong_type", 10: "wrong_type", 11: "missing_answer",
       12: "malformed_row"}
CONTROL = {chr(c) for c in range(32) if chr(c) not in "\n\t"} | {chr(c) for c in range(0x7f, 0xa0)} | \
    {"\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069"}


def raw_controls(text: str) -> set[str]:
    return {c for c in text if c in CONTROL}


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory: pytest.TempPathFactory, embedded_model: str,
                 one_torch_thread: None) -> tuple[Path, list[RunStore]]:
    """The pipeline over the hostile file, run in this process (the worker's own `run_attempt`)."""
    root = tmp_path_factory.mktemp("hostile")
    home = root / "home"
    data = root / "hostile \x1b[31mred\x1b[0m ..\\evil.jsonl"  # a path-like, escape-laden file name
    data.write_text("\n".join(ROWS) + "\n")
    spec = InferenceSpec(dataset=DatasetSpec(source=str(data), domain="gsm8k"), max_prompt_length=200,
                         truncation="error", chunk_size=2, sampling=SamplingSpec(max_tokens=4),
                         backend=BackendSpec(kind="hf", options={"batch_size": 2}),
                         then=[{"stage": "grading", "workers": 1}, {"stage": "tagging"}])
    store, _ = api.prepare(spec, home)
    run_attempt(store, STAGES, home=home)
    assert store.effective_status() == "done", store.manifest().get("error")
    return home, chain(store.run_id, home)


def test_bad_rows_are_recorded_and_good_rows_finish(hostile_runs: tuple[Path, list[RunStore]]) -> None:
    home, (inference, grading, tagging) = hostile_runs
    prefix = inference.records()[0]["example_id"].rsplit("-", 1)[0]
    assert "\x1b" in prefix, "the file's name went into the ids as it is"
    reasons = {int(e["item_id"].rsplit("-", 1)[1]): e["reason"] for e in inference.errors()}
    assert reasons == BAD
    assert all(e["detail"] for e in inference.errors()), "every bad row says why"
    for store in (inference, grading, tagging):
        assert [int(r["example_id"].rsplit("-", 1)[1]) for r in store.records()] == [0, 7, 13]
        assert store.effective_status() == "done"
    assert inference.records()[0]["question"] == ESC_Q, "the data itself is kept as it is"
    assert all(r["confidence_token"] in ("<CN_MATH>", "<UN_MATH>") for r in tagging.records())
    assert inference.manifest()["counts"]["errors"] == len(BAD)


async def test_the_tui_shows_bad_rows_and_never_a_raw_control_sequence(
        hostile_runs: tuple[Path, list[RunStore]]) -> None:
    from textual.widgets import DataTable

    from tests.tui_fixtures import settle, wait_for
    from tui_app.app import make_app
    from tui_app.screens.records import RecordsScreen
    from tui_app.screens.run import RunScreen
    from tui_app.widgets.record_table import RecordTable

    home, (inference, _, tagging) = hostile_runs
    app = make_app(home, refresh_interval=0, poll_interval=0.05)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        assert not raw_controls(app.export_screenshot()), "the Runs screen"
        app.push_screen(RunScreen(inference))
        await settle(pilot)
        table = app.screen.query_one("#bad-items", DataTable)
        await wait_for(pilot, lambda: table.row_count == len(BAD))
        shown = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert shown == set(BAD.values())
        assert not raw_controls(app.export_screenshot()), "the Run screen"
        app.push_screen(RecordsScreen(tagging))
        await settle(pilot)
        records = app.screen.query_one("#records", RecordTable)
        await wait_for(pilot, lambda: records.row_count == 3)
        records.move_cursor(row=0)  # the detail pane shows the question full of escapes
        await settle(pilot)
        screenshot = app.export_screenshot()
        visible = screenshot.replace("&#160;", " ")
        assert "What is 2 + 3?" in visible and "␛[2J" in visible, "shown, with visible stand-ins"
        assert not raw_controls(screenshot), "the Records screen"


def test_the_cli_prints_no_raw_control_sequence(hostile_runs: tuple[Path, list[RunStore]],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    home, (inference, _, tagging) = hostile_runs
    assert main(["--home", str(home), "runs"]) == 0
    assert main(["--home", str(home), "show", inference.run_id]) == 0
    assert main(["--home", str(home), "show", tagging.run_id]) == 0
    out = capsys.readouterr()
    assert f"{len(BAD)} bad items" in out.out and "nan_value" in out.out and "␛[31m" in out.out
    assert not raw_controls(out.out + out.err)


def test_files_bad_as_a_whole_fail_their_run_saying_why(tmp_path: Path, home: Path) -> None:
    latin = tmp_path / "latin \x1b[2J.jsonl"
    latin.write_bytes(json.dumps({"question": "Qué es 1 + 1?", "answer": "#### 2"}, ensure_ascii=False)
                      .encode("latin-1") + b"\n")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    runs = {name: api.launch(InferenceSpec(dataset=DatasetSpec(source=str(path), domain="gsm8k"),
                                           backend=BackendSpec(kind="hf")), home)
            for name, path in (("latin", latin), ("parquet", broken))}
    for name, run_id in runs.items():
        assert api.wait(run_id, home, timeout=120) == "failed"
        error = RunStore.open(run_id, home).manifest()["error"]
        assert ("not UTF-8" in error and "latin" in error.lower()) if name == "latin" else "parquet" in error.lower()
