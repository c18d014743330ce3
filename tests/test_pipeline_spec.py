"""Pipeline specs without running anything: named steps, inputs by name, matrix expansion, fan-out and gather,
validation of every planned run at launch, and `then` chains as the pipelines they stand for."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from experiments.runs.pipeline import pipeline_from_chain, plan
from experiments.specs import SpecError
from experiments.stages import STAGES, parse_spec

LOOP = """
stage = "pipeline"
title = "weak vs strong"

[[steps]]
name = "infer"
stage = "inference"
matrix = { model = ["smollm2-135m", "qwen2.5-7b-instruct"] }
dataset = { source = "arith", limit = 8 }

[[steps]]
name = "grade"
stage = "grading"
inputs = ["infer"]

[[steps]]
name = "rates"
stage = "curation"
action = "passrates"
inputs = { runs = "grade" }
"""


def test_matrix_fans_out_and_downstream_steps_follow_or_gather() -> None:
    spec = parse_spec(tomllib.loads(LOOP))
    instances = plan(spec, STAGES)
    names = [i.name for i in instances]
    assert names == ["infer[smollm2-135m]", "infer[qwen2.5-7b-instruct]", "grade[smollm2-135m]",
                     "grade[qwen2.5-7b-instruct]", "rates"]
    assert instances[1].fields["model"] == "qwen2.5-7b-instruct"
    assert instances[2].bindings == {"input_run": ["infer[smollm2-135m]"]}  # one grading run per inference run
    assert instances[4].bindings == {"runs": ["grade[smollm2-135m]", "grade[qwen2.5-7b-instruct]"]}  # gathered
    data = instances[4].spec_data({"grade[smollm2-135m]": "g1", "grade[qwen2.5-7b-instruct]": "g2"}, None, "t")
    assert data["runs"] == ["g1", "g2"] and data["then"] == [] and data["title"] == "t: rates"


def test_dotted_matrix_keys_and_a_two_axis_product() -> None:
    spec = parse_spec({"stage": "pipeline", "steps": [
        {"name": "infer", "stage": "inference", "dataset": {"source": "arith", "limit": 4},
         "matrix": {"model": ["a", "b"], "dataset.source": ["arith", "gsm8k"]}}]})
    instances = plan(spec, STAGES)
    assert len(instances) == 4
    assert {(i.fields["model"], i.fields["dataset"]["source"]) for i in instances} == \
        {("a", "arith"), ("a", "gsm8k"), ("b", "arith"), ("b", "gsm8k")}
    assert all(i.fields["dataset"]["limit"] == 4 for i in instances)  # the rest of the table is kept


@pytest.mark.parametrize("steps, message", [
    ([{"name": "a", "stage": "inference"}, {"name": "a", "stage": "grading", "inputs": ["a"]}], "used twice"),
    ([{"name": "g", "stage": "grading", "inputs": ["infer"]}], "not an earlier step"),
    ([{"name": "i", "stage": "inference"}, {"name": "g", "stage": "grading", "inputs": {"adapter": "i"}}],
     "no field 'adapter'"),
    ([{"name": "i", "stage": "inference", "matrix": {"modle": ["x"]}}], "matrix key 'modle'"),
    ([{"name": "i", "stage": "inference", "samplng": {"n": 2}}], "did you mean 'sampling'"),
    ([{"name": "i", "stage": "infrence"}], "unknown stage 'infrence'"),
    ([{"name": "bad name", "stage": "inference"}], "step name"),
    ([{"name": "i", "stage": "inference", "then": [{"stage": "grading"}]}], "add the stages as steps"),
])
def test_a_bad_pipeline_is_refused_at_parse_time_naming_its_step(steps: list, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec({"stage": "pipeline", "steps": steps})


def test_a_then_chain_is_the_pipeline_it_stands_for() -> None:
    chain = {"stage": "inference", "title": "demo", "dataset": {"source": "arith", "limit": 2},
             "then": [{"stage": "grading", "timeout": 5}, {"stage": "tagging", "then": [{"stage": "grading"}]}]}
    pipeline = pipeline_from_chain(chain)
    assert [(s["name"], s.get("inputs")) for s in pipeline["steps"]] == [
        ("inference", None), ("grading", ["inference"]), ("tagging", ["grading"]), ("grading-2", ["tagging"])]
    assert pipeline["steps"][1]["timeout"] == 5
    assert [i.name for i in plan(parse_spec(pipeline), STAGES)] == ["inference", "grading", "tagging", "grading-2"]


def test_launching_a_then_spec_creates_one_pipeline_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from experiments import api
    from experiments.runs import jobs
    from experiments.runs.store import RunStore

    monkeypatch.setattr(jobs, "start_workers", lambda store, spec, home, registry: [])
    run_id = api.launch({"stage": "inference", "then": [{"stage": "grading"}]}, tmp_path)
    store = RunStore.open(run_id, tmp_path)
    assert store.manifest()["stage"] == "pipeline" and [s.run_id for s in RunStore.list(tmp_path)] == [run_id]
    spec = STAGES.from_toml(store.spec_text())
    assert [s.name for s in spec.steps] == ["inference", "grading"]  # the steps' runs are made when they start
