"""The review layer without Textual: the store (latest wins, undo, crash safety), verdict policies, the queue order,
the agreement table against hand-computed kappa, and the readers that take `verdict = human | best`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments.reviews.policy import POLICIES, combine, pick
from experiments.reviews.queue import REASONS, ReviewQueue
from experiments.reviews.session import ReviewSession
from experiments.reviews.store import ReviewStore
from experiments.runs.store import RunStore
from experiments.views.records_index import RecordsIndex
from experiments.views.records_query import RecordsView
from tests.tui_fixtures import make_run, sample_records


def judged_and_graded(n: int = 9) -> list[dict]:
    """Records with both verdicts, as a judging run over a graded run writes them (the scripted judge agrees with
    the rule on i % 3 == 0 / 1 and is invalid on 2), plus a disagreement on record 3 and a judge confidence."""
    graded = sample_records(n)
    judged = sample_records(n, judged=True)
    records = [{**g, **{k: v for k, v in j.items() if k.startswith("judge_")}} for g, j in zip(graded, judged,
                                                                                              strict=True)]
    if n > 4:
        records[3]["judge_correct"] = False  # rule says right (3 % 3 == 0), the judge says wrong
        records[4]["judge_confidence"] = 0.3  # rule and judge agree (wrong), the judge is unsure
    return records


# -- the store ------------------------------------------------------------------------------------------------
def test_store_latest_wins_undo_and_a_second_session(tmp_path: Path) -> None:
    reviews = ReviewStore(tmp_path)
    reviews.mark("q-1", 0, "correct", "looks right", who="ana")
    reviews.mark("q-2", 0, "skip", who="ana")
    reviews.mark("q-1", 0, "wrong", "the sign is off", who="ana")
    latest = reviews.latest()
    assert latest[("q-1", 0)].verdict == "wrong" and latest[("q-1", 0)].note == "the sign is off"
    assert latest[("q-1", 0)].previous == {"verdict": "correct", "note": "looks right", "who": "ana",
                                           "ts": pytest.approx(latest[("q-1", 0)].previous["ts"])}
    assert latest[("q-2", 0)].correct is None and latest[("q-2", 0)].decided  # a skip: looked at, no verdict
    again = ReviewStore(tmp_path)  # a new session (or the TUI after a crash) replays the same file
    assert again.undo().verdict == "correct"  # the last mark undone: q-1 back to its previous state
    assert again.undo().verdict is None  # then q-2's skip: not reviewed again
    assert again.undo().verdict is None and not again.get("q-1").decided  # then q-1's first mark
    assert again.undo() is None  # nothing left
    reviews.refresh()  # the first session sees the undos the second wrote
    assert reviews.reviewed() == {}
    lines = [json.loads(line) for line in (tmp_path / "reviews.jsonl").read_text().splitlines()]
    assert [line["op"] for line in lines] == ["mark"] * 3 + ["undo"] * 3  # nothing is ever rewritten
    with pytest.raises(ValueError):
        reviews.mark("q-3", 0, "maybe")


def test_store_skips_a_torn_line_and_appends_after_it(tmp_path: Path) -> None:
    reviews = ReviewStore(tmp_path)
    reviews.mark("q-1", 0, "correct")
    with (tmp_path / "reviews.jsonl").open("ab") as fh:
        fh.write(b'{"v": 1, "op": "mark", "example_id": "q-2", "verd')  # the machine died mid-write
    reopened = ReviewStore(tmp_path)
    assert set(reopened.latest()) == {("q-1", 0)}
    reopened.mark("q-3", 1, "wrong")
    final = ReviewStore(tmp_path)
    assert set(final.reviewed()) == {("q-1", 0), ("q-3", 1)} and final.torn == 1


# -- policies -------------------------------------------------------------------------------------------------
def test_policies_per_record_and_vectorised_agree() -> None:
    values = (True, False, None)
    combos = [(r, j, h) for r in values for j in values for h in (*values, "skip")]
    rule = np.array([-1 if r is None else int(r) for r, _, _ in combos], dtype=np.int8)
    judge = np.array([-1 if j is None else int(j) for _, j, _ in combos], dtype=np.int8)
    human = np.array([2 if h == "skip" else -1 if h is None else int(h) for _, _, h in combos], dtype=np.int8)
    for policy in POLICIES:
        vector, _ = combine(policy, rule, judge, human)
        for (r, j, h), got in zip(combos, vector.tolist(), strict=True):
            record = {"example_id": "x", "correct": r, "judge_correct": j}
            if h is not None and h != "skip":
                record["human_correct"] = h
            verdict, _ = pick(record, policy)
            assert (-1 if verdict is None else int(verdict)) == got, (policy, r, j, h)
    record = {"correct": True, "judge_correct": False, "human_correct": False}
    assert pick(record, "best") == (False, "human") and pick(record, "auto") == (True, "rule")
    assert pick({"correct": None, "judge_correct": False}, "best") == (False, "judge")
    tagged = {"correct": False, "verdict_source": "judge", "judge_correct": False}  # tagged from the judge
    assert pick(tagged, "rule") == (None, None)  # its `correct` is the judge's: the rule never spoke


# -- queue ----------------------------------------------------------------------------------------------------
def test_queue_puts_disagreements_first(tmp_path: Path) -> None:
    records = judged_and_graded(9)
    store = make_run(tmp_path, "judging-q", stage="judging", records=records)
    view = RecordsView(RecordsIndex.open(store))
    queue = ReviewQueue.build(view)
    order = [view.index.key(row)[0][-1] for row in queue.rows.tolist()]
    reasons = [REASONS[c] for c in queue.reasons.tolist()]
    assert order[0] == "3" and reasons[0] == "rule and judge disagree"
    assert order[1:4] == ["2", "5", "8"] and set(reasons[1:4]) == {"judge verdict invalid"}  # no judge verdict
    assert order[4] == "4" and reasons[4] == "low judge confidence"
    assert order[5:] == ["0", "1", "6", "7"] and set(reasons[5:]) == {""}  # the rest, in run order
    session = ReviewSession(store, view)
    session.mark(int(queue.rows[0]), "correct")
    session.mark(int(queue.rows[1]), "skip")
    assert queue.progress() == (1, 1, 9) and queue.next_open(0) == 2
    assert session.undo() == int(queue.rows[1]) and queue.next_open(0) == 1


# -- agreement ------------------------------------------------------------------------------------------------
def hand_kappa(a: list[int], b: list[int]) -> float:
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    return (observed - expected) / (1 - expected)


def test_agreement_table_against_hand_computed_kappa() -> None:
    from experiments.stages.judging.agreement import pair_table, rater_agreement

    human = [1, 1, 1, 0, 0, 0, 1, 0, 1, 1]
    judge = [1, 1, 0, 0, 0, 1, 1, 0, 1, 0]
    rule = [1, 0, 0, 0, 1, 1, 1, 0, 1, 1]
    table = pair_table(np.array(human, np.int8), np.array(judge, np.int8))
    assert table["confusion"] == [[4, 2], [1, 3]]  # rows human right/wrong, columns judge right/wrong
    assert table["kappa"] == pytest.approx(hand_kappa(human, judge)) and table["agreement"] == pytest.approx(0.7)
    missing = np.array(human, np.int8)
    missing[:2] = -1  # two records the human has not reviewed: counted, not compared
    pairs = rater_agreement({"human": missing, "judge": np.array(judge, np.int8),
                             "rule": np.array(rule, np.int8)})
    assert set(pairs["pairs"]) == {"human_vs_judge", "human_vs_rule", "judge_vs_rule"}
    assert pairs["pairs"]["human_vs_rule"]["kappa"] == pytest.approx(hand_kappa(human[2:], rule[2:]))
    assert pairs["pairs"]["human_vs_rule"]["missing"] == 2 and pairs["raters"]["human"] == {"n": 8, "correct": 4}
    assert pair_table(np.array([1, 1], np.int8), np.array([1, 1], np.int8))["kappa"] is None  # undefined


def test_agreement_command_and_reviewed_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from experiments.cli.main import main

    store = make_run(tmp_path, "judging-a", stage="judging", records=judged_and_graded(9))
    reviews = ReviewStore(store.dir)
    for i, verdict in ((0, "correct"), (1, "wrong"), (3, "wrong"), (4, "correct"), (6, "skip")):
        reviews.mark(f"gsm8k-test-{i:06d}", 0, verdict, note=f"note {i}")
    assert main(["--home", str(tmp_path), "agreement", store.run_id, "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert (table["n"], table["both_correct"], table["rule_only"]) == (6, 2, 1)  # judge vs rule as before
    hj = table["pairs"]["human_vs_judge"]
    # human (0 R, 1 W, 3 W, 4 R) vs judge (0 R, 1 W, 3 W, 4 W); the skip counts as no verdict
    assert hj["n"] == 4 and hj["confusion"] == [[1, 1], [0, 2]]
    assert hj["kappa"] == pytest.approx(hand_kappa([1, 0, 0, 1], [1, 0, 0, 0]))
    assert main(["--home", str(tmp_path), "agreement", store.run_id]) == 0
    assert "human vs judge" in capsys.readouterr().out
    out = tmp_path / "reviewed.jsonl"
    assert main(["--home", str(tmp_path), "export", store.run_id, "--format", "reviewed", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["example_id"][-1] for r in rows] == ["0", "1", "3", "4", "6"]
    assert rows[2]["rule_correct"] is True and rows[2]["judge_correct"] is False and rows[2]["human_verdict"] == "wrong"
    assert rows[4]["human_verdict"] == "skip" and rows[4]["human_correct"] is None and rows[0]["note"] == "note 0"
    graded = make_run(tmp_path, "grading-only", stage="grading", records=sample_records(3))
    assert main(["--home", str(tmp_path), "agreement", graded.run_id]) == 2  # one rater: says why
    assert "agreement needs two of rule, judge and human" in capsys.readouterr().err


# -- readers taking verdict = human | best ------------------------------------------------------------------------
def test_tagging_with_best_uses_the_human_label(tmp_path: Path) -> None:
    from experiments.stages.tagging.spec import TaggingSpec
    from tests.stage_records import run_stage

    graded = make_run(tmp_path, "grading-t", stage="grading", records=sample_records(6))
    reviews = ReviewStore(graded.dir)
    reviews.mark("gsm8k-test-000001", 0, "correct", note="3 is fine here")  # the rule said wrong
    reviews.mark("gsm8k-test-000003", 0, "skip")  # no verdict: best falls back to the rule
    store, summary = run_stage(tmp_path, TaggingSpec(input_run=graded.run_id, verdict="best"), "tagging-best", True)
    tagged = {r["example_id"][-1]: r for r in store.records()}
    assert tagged["1"]["correct"] is True and tagged["1"]["confidence_token"] == "<CN_MATH>"
    assert tagged["1"]["verdict_source"] == "human" and tagged["1"]["rule_correct"] is False
    assert tagged["1"]["human_note"] == "3 is fine here"
    assert tagged["3"]["verdict_source"] == "rule" and tagged["2"]["confidence_token"] == "<UN_MATH>"
    assert summary["verdict_policy"] == "best" and summary["verdict_sources"] == {"human": 1, "rule": 5}
    store, summary = run_stage(tmp_path, TaggingSpec(input_run=graded.run_id, verdict="human"), "tagging-h", True)
    assert [r["example_id"][-1] for r in store.records()] == ["1"]  # only the reviewed record has a human verdict
    assert {e["reason"] for e in store.errors()} == {"untaggable_unreviewed"}


def test_passrates_and_sft_data_take_human_and_best(tmp_path: Path) -> None:
    from experiments.stages.curation.passrates import VerdictOptions, load_passrates
    from experiments.stages.tagging.sft_data import build_sft_dataset
    from experiments.stages.tagging.spec import TaggingSpec
    from tests.stage_records import run_stage

    graded = make_run(tmp_path, "grading-p", stage="grading", records=sample_records(6))

    def rates(policy: str) -> dict[str, float]:
        table = load_passrates(graded, VerdictOptions(verdict=policy))
        return {i[-1]: r for i, r in zip(table.column("example_id").to_pylist(), table.column("rate").to_pylist(),
                                         strict=True)}

    assert rates("best") == rates("rule") == {"0": 1.0, "1": 0.0, "2": 0.0, "3": 1.0, "4": 0.0, "5": 0.0}
    ReviewStore(graded.dir).mark("gsm8k-test-000001", 0, "correct")
    assert rates("best")["1"] == 1.0 and rates("rule")["1"] == 0.0  # the cache is keyed by the reviews too
    human = rates("human")
    assert human["1"] == 1.0 and all(r != r for k, r in human.items() if k != "1")  # unreviewed: ungraded (NaN)
    tagging, _ = run_stage(tmp_path, TaggingSpec(input_run=graded.run_id), "tagging-s", True)  # rule tokens
    ReviewStore(graded.dir).mark("gsm8k-test-000000", 0, "wrong")  # reviewed after tagging
    out = tmp_path / "sft.jsonl"
    summary = build_sft_dataset([tagging], out, verdict="best")
    rows = {r["example_id"][-1]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["0"]["output"].endswith("<UN_MATH>") and rows["1"]["output"].endswith("<CN_MATH>")
    assert summary["verdict"] == "best" and summary["verdict_sources"] == {"human": 2, "rule": 4}
    assert build_sft_dataset([tagging], out)["verdict_sources"] == {"rule": 6}  # as tagged


def test_reviews_reach_runs_made_from_the_reviewed_one(tmp_path: Path) -> None:
    """A judging run over a reviewed graded run sees those reviews (same records); its own reviews win."""
    from experiments.reviews.lineage import lineage_reviews

    graded = make_run(tmp_path, "grading-l", stage="grading", records=sample_records(3))
    judged = make_run(tmp_path, "judging-l", stage="judging", records=judged_and_graded(3),
                      extra={"inputs": [graded.run_id]})
    ReviewStore(graded.dir).mark("gsm8k-test-000000", 0, "wrong")
    ReviewStore(graded.dir).mark("gsm8k-test-000001", 0, "wrong")
    ReviewStore(judged.dir).mark("gsm8k-test-000001", 0, "correct")
    reviews = lineage_reviews(RunStore(judged.dir))
    assert {k[0][-1]: r.verdict for k, r in reviews.items()} == {"0": "wrong", "1": "correct"}
    assert set(lineage_reviews(graded)) == {("gsm8k-test-000000", 0), ("gsm8k-test-000001", 0)}
