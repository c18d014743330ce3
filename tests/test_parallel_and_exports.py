"""Data parallel workers, seed-style options (chunk_id, force_regenerate) and exports, on the embedded model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import api
from experiments.datasets.base import DatasetSpec
from experiments.exports import export_run
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, SamplingSpec
from experiments.stages.inference.spec import InferenceSpec

pytestmark = pytest.mark.slow


def spec(**overrides) -> InferenceSpec:  # noqa: ANN003
    base = dict(dataset=DatasetSpec(source="gsm8k", limit=4), chunk_size=1,
                backend=BackendSpec(kind="hf", options={"batch_size": 2}), sampling=SamplingSpec(max_tokens=6))
    return InferenceSpec(**{**base, **overrides})


def run_to_done(s: InferenceSpec, home: Path) -> RunStore:
    run_id = api.launch(s, home)
    assert api.wait(run_id, home, timeout=300) == "done", RunStore.open(run_id, home).log_path.read_text()[-3000:]
    return RunStore.open(run_id, home)


def test_data_parallel_two_workers_same_records_as_one(home: Path, embedded_model: str) -> None:
    one = run_to_done(spec(), home)
    two = run_to_done(spec(data_parallel=2), home)
    assert len(two.manifest()["pids"]) == 2
    keys1 = [(r["example_id"], r["sample_idx"]) for r in one.records()]
    keys2 = [(r["example_id"], r["sample_idx"]) for r in two.records()]
    assert keys2 == keys1 and len(set(keys2)) == 4
    assert [r["response"] for r in two.records()] == [r["response"] for r in one.records()], "greedy is greedy"
    events = [json.loads(line) for line in two.events_path.read_text().splitlines()]
    workers = {e["worker"] for e in events if e["type"] == "chunk"}
    assert workers == {0, 1}, "chunk i went to worker i % 2"
    assert two.manifest()["status"] == "done" and two.manifest()["counts"]["records"] == 4


def test_chunk_id_force_regenerate_and_exports(home: Path, tmp_path: Path, embedded_model: str) -> None:
    only = run_to_done(spec(chunk_id=2), home)
    assert only.done_chunks() == [2] and only.manifest()["status"] == "done"
    assert [r["example_id"] for r in only.records()] == ["gsm8k-test-000002"]

    full = run_to_done(spec(dataset=DatasetSpec(source="gsm8k", limit=2), force_regenerate=True), home)
    first = full.chunk_path(0).stat().st_mtime_ns
    api.resume(full.run_id, home)
    assert api.wait(full.run_id, home, timeout=300) == "done"
    assert full.chunk_path(0).stat().st_mtime_ns != first, "force_regenerate recomputes on resume"

    [pred_path] = export_run([full], "predictions", tmp_path / "pred.json")
    pred = json.loads(pred_path.read_text())
    assert list(pred) == ["0", "1"]
    assert set(pred["0"]) >= {"response", "question", "correct_answer"} and pred["0"]["correct_answer"] == "18"
    [merged] = export_run([only, full], "merged", tmp_path / "merged")
    rows = json.loads(merged.read_text())
    assert merged.name == "smollm2-135m.json" and [r["index"] for r in rows] == [0, 1, 2]
