"""Confidence tagging: tokens per domain and style, verdict sources, Self-REF subsampling, exports, SFT data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from experiments.runs.context import StageContext
from experiments.runs.emit import Emitter
from experiments.runs.store import RunStore
from experiments.specs import spec_to_toml
from experiments.stages.grading.spec import GradingSpec
from experiments.stages.tagging import run as tagging
from experiments.stages.tagging.sft_data import build_sft_dataset
from experiments.stages.tagging.spec import TaggingSpec
from experiments.stages.tagging.tokens import all_tokens, confidence_token, record_token_domain


@pytest.mark.parametrize("domain, correct, style, token", [
    ("gsm8k", True, "angle", "<CN_MATH>"), ("math", False, "angle", "<UN_MATH>"),
    ("mc", True, "angle", "<CN_MED>"), ("medqa", False, "angle", "<UN_MED>"),
    ("yesno", True, "angle", "<CN_READ>"), ("boolq", False, "angle", "<UN_READ>"),
    ("gsm8k", True, "pipe", "<|c_math|>"), ("mc", False, "pipe", "<|u_med|>"), ("yesno", True, "pipe", "<|c_read|>"),
    ("chemistry", True, "angle", "<CN_CHEMISTRY>"),
])
def test_tokens(domain: str, correct: bool, style: str, token: str) -> None:
    assert confidence_token(correct, domain, style) == token


def test_domain_name_overrides() -> None:
    assert confidence_token(True, "mc", "angle", {"mc": "MMLU"}) == "<CN_MMLU>"
    assert record_token_domain({"domain": "mc", "source": "medqa-test"}, {"medqa": "MEDQA"}) == "MEDQA"
    assert record_token_domain({"domain": "mc", "source": "mmlu-test"}, {"medqa": "MEDQA"}) == "MED"
    assert all_tokens(["gsm8k", "yesno"], "pipe") == ["<|c_math|>", "<|c_read|>", "<|u_math|>", "<|u_read|>"]


def rec(k: int, domain: str = "gsm8k", correct: bool | None = None, judge: bool | None = None,
        sample_idx: int = 0, **extra: Any) -> dict[str, Any]:
    r = {"example_id": f"{domain}-{k:03d}", "sample_idx": sample_idx, "index": k, "domain": domain,
         "source": f"{domain}-test", "question": f"q{k}", "prompt": f"Question {k}?\nAnswer:", "gold": str(k),
         "context": {}, "model": "small", "response": f"answer {k}  ", **extra}
    if correct is not None or "grade_status" in extra:
        r.setdefault("grade_status", "ok")
        r["correct"] = correct
    if judge is not None or "judge_status" in extra:
        r.setdefault("judge_status", "ok")
        r["judge_correct"] = judge
    return r


def make_run(home: Path, chunks: list[list[dict[str, Any]]]) -> RunStore:
    store = RunStore.create(spec_to_toml(GradingSpec(input_run="none")), "grading", home)
    for i, rows in enumerate(chunks):
        store.write_chunk(i, rows)
    return store


def tag(home: Path, source: RunStore, **kw: Any) -> tuple[RunStore, dict[str, Any]]:
    """Run the tagging stage in-process (the worker's run + finalize), returning the store and summary."""
    spec = TaggingSpec(input_run=source.run_id, **kw)
    store = RunStore.create(spec_to_toml(spec), "tagging", home)
    ctx = StageContext(store=store, emit=Emitter(store.events_path, store.run_id), home=home)
    tagging.run(spec, ctx)
    summary = tagging.finalize(spec, ctx)
    store.update_manifest(status="done", summary=summary)
    return store, summary


def test_tagged_records_and_auto_verdicts(home: Path) -> None:
    source = make_run(home, [
        [rec(0, correct=True), rec(1, correct=False, judge=True), rec(2, judge=False)],
        [rec(3, "mc", correct=None, grade_status="timeout", judge=True),
         rec(4, "yesno", correct=None, grade_status="timeout"),
         rec(5, "yesno", judge=None, judge_status="invalid_json")],
    ])
    store, summary = tag(home, source)
    by_id = {r["example_id"]: r for r in store.records()}
    assert by_id["gsm8k-000"]["tagged_response"] == "answer 0 <CN_MATH>"
    assert (by_id["gsm8k-001"]["confidence_token"], by_id["gsm8k-001"]["verdict_source"]) == ("<UN_MATH>", "rule")
    assert (by_id["gsm8k-002"]["confidence_token"], by_id["gsm8k-002"]["verdict_source"]) == ("<UN_MATH>", "judge")
    assert by_id["mc-003"]["confidence_token"] == "<CN_MED>" and by_id["mc-003"]["correct"] is True
    assert by_id["mc-003"]["rule_correct"] is None
    assert set(by_id) == {"gsm8k-000", "gsm8k-001", "gsm8k-002", "mc-003"}
    reasons = {(e["item_id"], e["reason"]) for e in store.errors()}
    assert reasons == {("yesno-004#0", "untaggable_timeout"), ("yesno-005#0", "untaggable_invalid_json")}
    assert summary["verdict_sources"] == {"rule": 2, "judge": 2}
    acc = {r["domain"]: (r["n"], r["correct"]) for r in summary["accuracy"]}
    assert acc == {"gsm8k": (3, 1), "mc": (1, 1)}
    assert summary["accuracy_by_model"] == [{"model": "small", "domain": "all", "n": 4, "graded": 4, "correct": 2,
                                             "accuracy": 0.5}]


def test_verdict_sources_rule_and_judge(home: Path) -> None:
    source = make_run(home, [[rec(0, correct=True, judge=False), rec(1, correct=False), rec(2, judge=True)]])
    store, _ = tag(home, source, verdict="judge", style="pipe")
    by_id = {r["example_id"]: r for r in store.records()}
    assert {k: r["confidence_token"] for k, r in by_id.items()} == {"gsm8k-000": "<|u_math|>",
                                                                     "gsm8k-002": "<|c_math|>"}
    assert by_id["gsm8k-000"]["rule_correct"] is True and by_id["gsm8k-000"]["correct"] is False
    assert [e["reason"] for e in store.errors()] == ["untaggable_unknown"]
    store, _ = tag(home, source, verdict="rule")
    assert {r["example_id"]: r["confidence_token"] for r in store.records()} == {"gsm8k-000": "<CN_MATH>",
                                                                                 "gsm8k-001": "<UN_MATH>"}


def test_tagged_json_shape_and_parquet(home: Path) -> None:
    source = make_run(home, [[rec(3, correct=True), rec(1, correct=False)]])
    store, _ = tag(home, source)
    data = json.loads((store.outputs_dir / "tagged.json").read_text())
    assert list(data) == ["1", "3"]
    assert data["3"] == {"question": "q3", "response": "answer 3  ", "correct_answer": "3", "correct": True,
                         "confidence_token": "<CN_MATH>", "tagged_response": "answer 3 <CN_MATH>"}
    frame = pd.read_parquet(store.outputs_dir / "tagged.parquet")
    assert len(frame) == 2 and set(frame["confidence_token"]) == {"<CN_MATH>", "<UN_MATH>"}
    multi = make_run(home, [[rec(0, correct=True), rec(0, correct=False, sample_idx=1)]])
    store, _ = tag(home, multi)
    assert list(json.loads((store.outputs_dir / "tagged.json").read_text())) == ["0_0", "0_1"]


def test_incorrect_ratio_subsampling(home: Path) -> None:
    rows = [rec(k, correct=k < 4) for k in range(20)]  # 4 correct, 16 incorrect
    source = make_run(home, [rows[:10], rows[10:]])
    store, summary = tag(home, source, incorrect_ratio=1.5, seed=7)
    assert summary["subsample"] == {"incorrect_ratio": 1.5, "seed": 7, "kept": 10, "dropped_incorrect": 10,
                                    "kept_incorrect": 6}
    assert len(store.records()) == 20 and store.errors() == []  # chunks keep everything; drops aren't errors
    kept = set(json.loads((store.outputs_dir / "tagged.json").read_text()))
    assert len(kept) == 10 and {"0", "1", "2", "3"} <= kept
    # deterministic: same seed same choice whatever the record order; another seed another choice
    again, _ = tagging.select_records(list(reversed(store.records())), 1.5, 7)
    assert {r["example_id"] for r in again} == {f"gsm8k-{int(k):03d}" for k in kept}
    other, _ = tagging.select_records(store.records(), 1.5, 8)
    assert {r["example_id"] for r in other} != {r["example_id"] for r in again}
    assert len(tagging.select_records(store.records(), 0, 0)[0]) == 4
    assert len(tagging.select_records(store.records(), 100, 0)[0]) == 20


def test_sft_dataset_across_runs(home: Path, tmp_path: Path) -> None:
    math_run, _ = tag(home, make_run(home, [[rec(1, correct=True), rec(0, correct=False)]]))
    mixed = make_run(home, [[rec(0, "mc", correct=True), rec(1, "yesno", correct=False), rec(2, correct=False)]])
    mc_run, _ = tag(home, mixed, style="pipe", incorrect_ratio=1.0)
    out = tmp_path / "sft.jsonl"
    summary = build_sft_dataset([math_run, mc_run], out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["rows"] == len(rows) == 4 and summary["dropped_incorrect"] == 1
    assert summary["runs"] == {math_run.run_id: 2, mc_run.run_id: 2}
    assert [(r["source_run"], r["example_id"]) for r in rows[:2]] == [(math_run.run_id, "gsm8k-000"),
                                                                      (math_run.run_id, "gsm8k-001")]
    assert rows[0] == {"input": "Question 0?\nAnswer:", "output": "answer 0 <UN_MATH>", "domain": "gsm8k",
                       "correct": False, "confidence_token": "<UN_MATH>", "source_run": math_run.run_id,
                       "example_id": "gsm8k-000", "sample_idx": 0}
    assert rows[2]["confidence_token"] == "<|c_med|>" and rows[2]["example_id"] == "mc-000"
    parquet = build_sft_dataset([math_run, mc_run], tmp_path / "sft.parquet")
    frame = pd.read_parquet(parquet["path"])
    assert frame.to_dict("records") == rows
    with pytest.raises(ValueError):
        build_sft_dataset([mixed], tmp_path / "x.jsonl")  # not a tagging run
