"""Control sequences in dataset and model text never reach the terminal raw: every CLI printing path (capsys)
and the TUI's record detail, records table, run log and bad items (Pilot, widget content and a screenshot)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from experiments.cli.main import main
from experiments.report.accuracy import accuracy_table
from experiments.runs.emit import Emitter
from experiments.runs.store import RunStore
from experiments.specs import spec_to_toml
from experiments.stages.grading.spec import GradingSpec
from experiments.stages.inference.spec import InferenceSpec
from experiments.textsafe import inert, is_inert

# clear screen, retitle the window (OSC ... BEL), a one-byte C1 CSI, a carriage return, a bidi override
EVIL = "What is 2+2?\x1b[2J\x1b]0;pwned\x07 \x9b31m red\r over\u202e end"


def assert_inert(text: str) -> None:
    assert is_inert(text), repr(text)
    for raw in ("\x1b", "\x07", "\x9b", "\r", "\u202e"):
        assert raw not in text


def test_inert_shows_control_characters() -> None:
    out = inert(EVIL + "\nnext\tline")
    assert_inert(out)
    assert "\u241b[2J" in out and "\u241b]0;pwned\u2407" in out  # ␛[2J  ␛]0;pwned␇
    assert "\\x9b31m" in out and "\u240d" in out and "\\u202e" in out
    assert out.endswith("\nnext\tline")
    assert inert("plain text, ünïcode ✓") == "plain text, ünïcode ✓"
    assert inert(42) == "42"


def test_datasets_preview_and_bad_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "evil.jsonl"
    rows = [json.dumps({"question": EVIL, "answer": f"#### 4 {EVIL}"}), "{not json " + EVIL,
            json.dumps({"question": EVIL})]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["datasets", str(data), "--domain", "gsm8k", "--system-prompt", EVIL]) == 0
    out = capsys.readouterr()
    assert_inert(out.out + out.err)
    assert out.out.count("\u241b[2J") >= 3  # question, gold, system prompt all shown, inert
    assert "malformed_row" in out.out


def evil_records(n: int = 3) -> list[dict[str, Any]]:
    return [{"example_id": f"q-{i:06d}", "sample_idx": 0, "index": i, "domain": "gsm8k", "model": EVIL,
             "question": EVIL, "prompt": EVIL, "gold": "4", "response": f"{EVIL}\n#### 4", "finish_reason": "stop",
             "correct": i % 2 == 0, "judge_correct": True, "extracted": "4", "grade_status": "ok",
             "grade_reason": EVIL} for i in range(n)]


def graded_run(home: Path) -> RunStore:
    store = RunStore.create(spec_to_toml(GradingSpec(input_run="none")), "grading", home)
    records = evil_records()
    store.write_chunk(0, records)
    store.add_error("q-000009", "malformed_row", EVIL)
    emit = Emitter(store.events_path, store.run_id)
    emit.log(EVIL)
    emit.item_error("q-000009", "malformed_row", EVIL)
    emit.status("done")
    from experiments.stages.judging.agreement import agreement_table

    store.update_manifest(status="done", title=EVIL, error=EVIL,
                          summary={"accuracy": accuracy_table(records), "agreement": agreement_table(records)})
    return store


def test_show_progress_judge_summary_and_grade_file(home: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from experiments.cli.progress import follow
    from experiments.stages.judging.cli import print_judge_summary

    store = graded_run(home)
    assert main(["show", store.run_id]) == 0
    follow(store)  # the headless progress lines (plain, not a tty here)
    print_judge_summary(store.manifest())
    missing = tmp_path / "answers\x1b[2J.jsonl"  # grade-file prints counts; only its error names a path
    assert main(["grade-file", str(missing), str(tmp_path / "out.jsonl"), "--workers", "1"]) == 1
    out = capsys.readouterr()
    assert_inert(out.out + out.err)
    assert "No such file" in out.err
    assert out.out.count("\u241b[2J") >= 5  # title, error, accuracy/agreement rows, bad item, log line


@pytest.mark.slow
def test_tag_command_through_a_real_worker(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """launch -> follow -> summary line -> the tag summary table, with model text in the records."""
    store = graded_run(home)
    assert main(["tag", store.run_id]) == 0
    out = capsys.readouterr()
    assert_inert(out.out + out.err)
    assert "\u241b[2J" in out.out  # the model name in the accuracy table, shown inert


async def test_tui_records_and_run_screens(home: Path) -> None:
    from textual.widgets import DataTable, Log

    from tests.tui_fixtures import wait_for
    from tui_app.app import make_app
    from tui_app.screens.records import RecordsScreen
    from tui_app.screens.run import RunScreen
    from tui_app.widgets.record_table import RecordTable

    inference = RunStore.create(spec_to_toml(InferenceSpec(title=EVIL)), "inference", home)
    inference.write_chunk(0, evil_records())
    inference.update_manifest(status="done", title=EVIL)
    store = graded_run(home)
    app = make_app(home=home, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=(150, 45)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = RecordsScreen(inference)
        app.push_screen(screen)
        await wait_for(pilot, lambda: screen.rows, timeout=60)  # the first open indexes the run in a worker
        detail = str(screen.query_one("#detail").render())
        assert "\u241b[2J" in detail
        assert_inert(detail)
        table = screen.query_one("#records", RecordTable)
        assert table.row_count == 3
        assert_inert(" ".join(str(cell) for cell in table.get_row_at(0)))
        assert_inert(app.export_screenshot())

        app.push_screen(RunScreen(store))
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        log_lines = screen.query_one("#log", Log).lines
        assert any("\u241b[2J" in line for line in log_lines)
        assert_inert("\n".join(log_lines))
        bad = screen.query_one("#bad-items", DataTable)
        assert bad.row_count == 1
        assert_inert(" ".join(str(cell) for cell in bad.get_row_at(0)))
        assert_inert(str(screen.query_one("#run-info").render()) + str(screen.query_one("#summary").render()))
        await pilot.press("tab")  # focus moves; selecting the bad item shows its detail as a notification
        bad.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert all(is_inert(str(n.message)) and is_inert(str(n.title)) for n in app._notifications)
        assert_inert(app.export_screenshot())
        app.pop_screen()
        await pilot.pause()
        assert_inert(app.export_screenshot())  # the runs table shows the runs' titles
