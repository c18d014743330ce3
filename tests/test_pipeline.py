"""The spine end to end on the embedded model: worker processes, `then` chains (pipelines), bad input. Kill -9 and
resume: tests/faults/ (test_kill_inference, test_kill_pipeline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import api
from experiments.datasets.base import DatasetSpec
from experiments.runs.lineage import chain
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, SamplingSpec
from experiments.stages.inference.spec import InferenceSpec

pytestmark = pytest.mark.slow


def small_spec(dataset: DatasetSpec, **overrides) -> InferenceSpec:  # noqa: ANN003
    base = dict(dataset=dataset, backend=BackendSpec(kind="hf", options={"batch_size": 2}),
                sampling=SamplingSpec(max_tokens=12), chunk_size=2)
    return InferenceSpec(**{**base, **overrides})


def wait_chain(run_id: str, home: Path, timeout: float = 240) -> list[RunStore]:
    """A `then` spec runs as a pipeline: wait for it, then its step runs in order."""
    status = api.wait(run_id, home, timeout=timeout)
    assert status == "done", (status, RunStore.open(run_id, home).manifest().get("error"))
    return chain(run_id, home)


def events(store: RunStore) -> list[dict]:
    return [json.loads(line) for line in store.events_path.read_text().splitlines()]


def test_inference_grading_tagging_chain(home: Path, embedded_model: str) -> None:
    spec = small_spec(DatasetSpec(source="gsm8k", limit=3),
                      then=[{"stage": "grading", "timeout": 10}, {"stage": "tagging"}])
    stores = wait_chain(api.launch(spec, home), home)
    assert [s.manifest()["stage"] for s in stores] == ["inference", "grading", "tagging"]
    assert all(s.effective_status() == "done" for s in stores), [s.manifest() for s in stores]
    tagged = stores[-1].records()
    assert len(tagged) == 3
    for record in tagged:
        assert record["confidence_token"] == ("<CN_MATH>" if record["correct"] else "<UN_MATH>")
        assert record["tagged_response"].endswith(record["confidence_token"])
        assert record["gold"] and record["question"] and "response" in record
    summary = stores[-1].manifest()["summary"]
    assert summary["accuracy"][0]["n"] == 3
    assert (stores[-1].outputs_dir / "tagged.parquet").exists()
    assert stores[1].manifest()["inputs"] == [stores[0].run_id]


def test_bad_input_is_recorded_and_the_rest_finishes(home: Path, tmp_path: Path, embedded_model: str) -> None:
    data = tmp_path / "bad.jsonl"
    rows = [
        json.dumps({"question": "What is 1 + 1?", "answer": "#### 2"}),
        "{this is not json",
        json.dumps({"question": "What is 2 + 3?"}),
        json.dumps({"question": "Repeat: " + "lorem ipsum " * 120, "answer": "#### 1"}),
        json.dumps({"question": "What is 3 + 3?", "answer": "#### 6"}),
    ]
    data.write_text("\n".join(rows) + "\n")
    spec = small_spec(DatasetSpec(source=str(data), domain="gsm8k"), max_prompt_length=200, truncation="error",
                      then=[{"stage": "grading"}])
    stores = wait_chain(api.launch(spec, home), home)
    inference = stores[0]
    assert inference.effective_status() == "done"
    reasons = {e["item_id"]: e["reason"] for e in inference.errors()}
    assert reasons == {"bad-000001": "malformed_row", "bad-000002": "missing_field",
                       "bad-000003": "prompt_too_long"}
    assert sorted(r["example_id"] for r in inference.records()) == ["bad-000000", "bad-000004"]
    item_errors = [e for e in events(inference) if e["type"] == "item_error"]
    assert len(item_errors) == 3
    assert stores[-1].effective_status() == "done" and len(stores[-1].records()) == 2
