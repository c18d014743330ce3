"""Unit tests of experiments.views (no Textual)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from experiments.runs.emit import Emitter
from experiments.runs.state import RunState
from experiments.runs.store import RunStore
from experiments.views import records as rv
from experiments.views import runs
from tests.tui_fixtures import DEAD_PID, make_home, make_run, sample_records


def test_verdicts_and_matches():
    records = sample_records(6)
    assert [rv.verdict(r) for r in records[:3]] == ["correct", "incorrect", "incorrect"]  # no_answer is wrong
    assert rv.verdict({"example_id": "x"}) == "ungraded"
    assert rv.matches(records[0], "correct")
    assert not rv.matches(records[0], "incorrect")
    assert rv.matches(records[1], "all", "QUESTION 1")  # case-insensitive, question
    assert rv.matches(records[1], "all", "gives 3")  # response
    assert rv.matches(records[1], "all", "test-000001")  # example id
    assert not rv.matches(records[1], "all", "nowhere")


def verdict_counts(records: list[dict]) -> Counter[str]:
    return Counter(rv.verdict(r) for r in records)


def test_verdict_counts():
    assert verdict_counts(sample_records(7)) == {"correct": 3, "incorrect": 4}
    assert verdict_counts(sample_records(7, graded=False)) == {"ungraded": 7}


def test_judge_verdict_when_there_is_no_rule_verdict():
    """Issue 7 k: a judging run over an ungraded inference run is read through its judge verdicts."""
    judged = sample_records(6, judged=True)
    assert all(r.get("correct") is None for r in judged)
    assert [rv.verdict(r) for r in judged] == ["correct", "incorrect", "ungraded"] * 2  # 2: invalid_json
    assert verdict_counts(judged) == {"correct": 2, "incorrect": 2, "ungraded": 2}
    assert rv.matches(judged[0], "correct") and rv.matches(judged[2], "ungraded")
    sections = dict(rv.record_sections(judged[1]))
    assert sections["verdict"] == "incorrect (judge)"
    assert sections["judge verdict"] == "incorrect (ok)"
    assert sections["extracted"] == "3"  # the answer the judge read
    assert sections["judge reasoning"] == "The final line differs from the gold answer."
    assert dict(rv.record_sections(judged[2]))["judge verdict"] == "ungraded (invalid_json)"
    assert rv.record_cells(judged[0])[rv.RECORD_COLUMNS.index("ok")] == "✓"


def test_rule_verdict_wins_over_the_judge():
    graded = sample_records(3)[1]  # the rule says wrong
    both = {**graded, "judge_correct": True, "judge_status": "ok"}
    assert rv.verdict(both) == "incorrect"
    sections = dict(rv.record_sections(both))
    assert sections["verdict"] == "incorrect (ok): 3 != gold 2" and sections["judge verdict"] == "correct (ok)"
    tagged = sample_records(3, tagged=True)
    assert [rv.verdict(r) for r in tagged] == ["correct", "incorrect", "incorrect"]


def test_matching_records_are_read_lazily_chunk_by_chunk(tmp_path, monkeypatch):
    store = make_run(tmp_path, "inference-x", records=sample_records(10), chunk_size=3)
    reads = []
    original = RunStore.read_chunk
    monkeypatch.setattr(RunStore, "read_chunk", lambda self, i: reads.append(i) or original(self, i))
    it = rv.iter_matching(store)
    first = list(itertools.islice(it, 4))
    assert [r["index"] for r in first] == [0, 1, 2, 3]
    assert reads == [0, 1]  # only the chunks needed so far
    assert [r["index"] for r in it] == list(range(4, 10))


def test_matching_filters_and_search(tmp_path):
    store = make_run(tmp_path, "grading-x", stage="grading", records=sample_records(9), chunk_size=4)
    assert len(list(rv.iter_matching(store, "correct"))) == 3
    assert len(list(rv.iter_matching(store, "incorrect"))) == 6
    assert list(rv.iter_matching(store, "ungraded")) == []
    assert [r["index"] for r in rv.iter_matching(store, "all", "question 4")] == [4]
    with pytest.raises(ValueError):
        list(rv.iter_matching(store, "bogus"))


def test_record_cells_and_sections():
    record = sample_records(3, tagged=True)[1]
    record |= {"judge_reasoning": "the sum is wrong", "response": "x" * 500}
    cells = rv.record_cells(record)
    assert cells[:4] == ("gsm8k-test-000001", "0", "gsm8k", "✗")
    assert cells[rv.RECORD_COLUMNS.index("token")] == "<UN_MATH>"
    assert len(cells[-1]) == rv.PREVIEW and cells[-1].endswith("…")
    sections = dict(rv.record_sections(record))
    assert sections["question"] == "Question 1: what is 1 plus 1?"
    assert sections["response"] == "x" * 500  # the full text in the detail pane
    assert sections["gold"] == "2" and sections["extracted"] == "3"
    assert sections["verdict"] == "incorrect (ok): 3 != gold 2"
    assert sections["confidence token"] == "<UN_MATH>"
    assert sections["judge reasoning"] == "the sum is wrong"
    assert "judge reasoning" not in dict(rv.record_sections(sample_records(1)[0]))


def test_progress_and_metrics_text():
    assert runs.progress_text(3, 8) == "3/8 (38%)"
    assert runs.progress_text(3, None, "samples") == "3 samples"
    assert runs.progress_text(None, 8) == ""
    state = RunState(status="running", done=10, total=40, unit="samples", rate=2.0)
    assert runs.progress_line(state) == "10/40 samples (25%) · 2.00/s · ETA 00:15"
    assert runs.progress_line(RunState(status="done", done=40, total=40, rate=9.0)) == "40/40 items (100%)"
    assert runs.progress_line(state, "interrupted") == "10/40 samples (25%)"
    state.metrics = {"tokens_per_s": [(None, 12.0), (None, 41.25)], "model_load_s": [(None, 9.7)]}
    assert runs.format_metrics(state) == "model_load_s 9.7 · tokens_per_s 41.2"


def test_status_of_interrupted():
    assert runs.status_of({"status": "running", "pids": [DEAD_PID]}) == "interrupted"
    assert runs.status_of({"status": "running", "pids": []}) == "running"
    assert runs.status_of({"status": "done", "pids": [DEAD_PID]}) == "done"


def test_summary_text_has_accuracy_and_counts():
    from experiments.report.accuracy import accuracy_table

    manifest = {"summary": {"accuracy": accuracy_table(sample_records(6)), "tokens": {"<UN_MATH>": 4},
                            "records": 6}}
    text = runs.summary_text(manifest)
    assert "accuracy" in text and "33.3%" in text
    assert "tokens: <UN_MATH>: 4" in text and "records: 6" in text
    assert runs.summary_text({}) == ""


def test_runs_index_rows_and_live_progress(tmp_path):
    make_home(tmp_path)
    index = runs.RunsIndex(tmp_path)
    rows = {r.id: r for r in index.rows()}
    assert len(rows) == 5
    assert list(rows)[0] == "tagging-20260528-203040-eeee"  # newest first
    assert rows["tagging-20260528-203040-eeee"].status == "interrupted"
    running = rows["inference-20260528-202840-cccc"]
    assert (running.status, running.progress, running.errors) == ("running", "3/8 (38%)", 2)
    assert rows["inference-20260528-202640-aaaa"].progress == "6/6 (100%)"
    store = RunStore.open("inference-20260528-202840-cccc", tmp_path)
    Emitter(store.events_path, store.run_id).progress(5, 8, force=True)
    assert index.row(store).progress == "5/8 (62%)"


def test_error_cells_flatten_detail():
    cells = runs.error_cells({"item_id": "q1", "reason": "malformed_row", "detail": "line 1\n  line 2"}, 10)
    assert cells == ("q1", "malformed_row", "line 1 li…")



def test_compact_accuracy_fits_a_pane():
    from experiments.report.accuracy import accuracy_table

    text = runs.format_accuracy_compact(accuracy_table(sample_records(6) + sample_records(3, domain="numeric")))
    lines = text.splitlines()
    assert lines[0].split() == ["model", "domain", "n", "graded", "correct", "accuracy"]
    assert lines[2].split() == ["smollm2-135m", "gsm8k", "6", "6", "2", "33.3%"]
    assert max(map(len, lines)) < 50


def test_run_info_shows_the_pipeline_step_and_layout_warnings():
    info = dict(runs.run_info({"id": "r", "stage": "grading", "pipeline": "pipeline-1", "step": "grade",
                                "layout_warning": "GPU(s) [2] left unused"}, "done"))
    assert info["status"] == "done" and info["pipeline"] == "pipeline-1 · grade"
    assert info["layout"] == "GPU(s) [2] left unused"
    screen = dict(runs.run_info({"id": "r", "pipeline": "pipeline-1", "step": "grade", "inputs": ["a"]}, "done",
                                lineage=False))
    assert "pipeline" not in screen and "inputs" not in screen  # the Run screen's lineage line shows them, as links


def test_summary_text_of_an_evaluation_run_whose_accuracy_is_one_number():
    """An evaluation summary's `accuracy` is a float, not the accuracy table: shown as a value, never iterated."""
    text = runs.summary_text({"summary": {"accuracy": 0.3, "auroc": 0.79, "majority_baseline": 0.7,
                                          "tokens": {"confident": 1, "uncertain": 94}}})
    assert "accuracy: 0.3" in text and "majority_baseline: 0.7" in text and "uncertain: 94" in text
