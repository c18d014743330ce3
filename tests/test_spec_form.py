"""Unit tests of experiments.stages.form: descriptors from spec models, widget values, validation (no Textual)."""

from __future__ import annotations

import tomllib
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from experiments.specs import BaseSpec, StrictModel
from experiments.stages import STAGES, Stage, spec_from_toml
from experiments.stages import form as sf
from tests.tui_fixtures import make_run


def by_key(descriptors):
    return {d.key: d for d in sf.leaves(descriptors)}


def test_inference_descriptors_follow_the_model():
    fields = by_key(sf.describe_stage("inference"))
    assert "stage" not in fields  # picked, not typed
    assert fields["sampling.temperature"].kind == "float" and fields["sampling.temperature"].default == 0.0
    assert fields["sampling.n"].help == "samples per prompt (≥ 1)"
    assert fields["truncation"].kind == "choice" and fields["truncation"].choices == ("left", "right", "error")
    assert fields["backend.kind"].choices == ("hf", "vllm", "openai_compat", "bedrock")
    assert fields["sampling.ignore_eos"].kind == "bool"
    assert fields["gpus"].kind == "toml" and fields["gpus"].default == []
    assert fields["max_prompt_length"].kind == "int" and fields["max_prompt_length"].optional
    assert fields["dataset.limit"].path == ("dataset", "limit")
    top = [d.name for d in sf.describe_stage("inference")]
    assert top[-3:] == ["title", "group", "then"]  # shared fields after the stage's own
    sections = {d.name: d for d in sf.describe_stage("inference") if d.kind == "section"}
    assert set(sections) == {"dataset", "backend", "sampling"}


def test_nested_defaults_come_from_the_parent_default():
    """A judge's backend defaults to openai_compat (its default_factory), not BackendSpec's hf."""
    assert by_key(sf.describe_stage("judging"))["backend.kind"].default == "openai_compat"


def test_classify_covers_enums_optionals_and_unions():
    import enum

    class Color(enum.Enum):
        RED = "red"
        BLUE = "blue"

    assert sf.classify(Color)[:3] == ("choice", False, ("red", "blue"))
    assert sf.classify(Literal["a", "b"] | None)[:3] == ("choice", True, ("a", "b"))
    assert sf.classify(int | str)[0] == "toml"
    assert sf.classify(dict[str, list[float]])[0] == "toml"


def test_defaults_make_a_valid_spec_for_every_stage():
    for name, stage in STAGES.items():
        values, unknown = sf.initial_values(sf.describe_stage(name))
        state = sf.evaluate(name, values)
        assert state.spec is not None and not unknown, (name, state.message)
        assert spec_from_toml(state.toml) == stage.spec_model()()  # the form's defaults are the model's


def test_values_parse_into_the_spec_and_round_trip():
    descriptors = sf.describe_stage("inference")
    values, _ = sf.initial_values(descriptors)
    values |= {"sampling.temperature": "0.7", "gpus": "0, 1", "backend.options": "batch_size = 4",
               "sampling.stop": '["###"]', "dataset.limit": "5", "dataset.path": "", "title": "t",
               "then": '[{stage = "grading"}]'}
    state = sf.evaluate("inference", values, descriptors)
    assert state.ok, state.message
    spec = state.spec
    assert (spec.sampling.temperature, spec.gpus, spec.backend.options) == (0.7, [0, 1], {"batch_size": 4})
    assert spec.sampling.stop == ["###"] and spec.dataset.limit == 5 and spec.dataset.path is None
    again, unknown = sf.initial_values(descriptors, tomllib.loads(state.toml))
    assert not unknown and sf.evaluate("inference", again, descriptors).toml == state.toml


def test_errors_land_on_their_fields():
    descriptors = sf.describe_stage("inference")
    values, _ = sf.initial_values(descriptors)
    values |= {"sampling.temperature": "-1", "chunk_size": "", "sampling.n": "two", "gpus": "[0,"}
    state = sf.evaluate("inference", values, descriptors)
    assert not state.ok and state.spec is None
    assert "greater than or equal to 0" in state.errors["sampling.temperature"]
    assert "valid integer" in state.errors["chunk_size"]  # a cleared number is an error, not a silent default
    assert "valid integer" in state.errors["sampling.n"]
    assert "not TOML" in state.errors["gpus"]
    assert "sampling.temperature" in state.message
    only_toml, _ = sf.initial_values(descriptors)
    state = sf.evaluate("inference", only_toml | {"dataset.columns": "{question ="}, descriptors)
    assert "not TOML" in state.errors["dataset.columns"]
    assert state.spec is None and state.toml == ""  # never a spec that silently dropped what was typed


def test_secret_options_and_launch_checks_are_form_errors(tmp_path):
    descriptors = sf.describe_stage("inference")
    values, _ = sf.initial_values(descriptors)
    state = sf.evaluate("inference", values | {"backend.options": 'api_key = "sk-1"'}, descriptors)
    assert "looks like a secret" in state.errors["backend.options"]
    state = sf.evaluate("inference", values | {"gpus": "[0]", "tensor_parallel": "2"}, descriptors)
    assert state.spec is not None and not state.ok and "needs at least 2 GPUs" in state.errors["gpus"]
    state = sf.evaluate("inference", values | {"gpus": "[0, 1, 2]", "tensor_parallel": "2"}, descriptors)
    assert state.ok and "[2]" in state.warning
    state = sf.evaluate("inference", values | {"then": '[{stage = "grading", timout = 5}]'}, descriptors)
    assert "did you mean 'timeout'" in state.errors["then"]
    grading, _ = sf.initial_values(sf.describe_stage("grading"))
    assert "give that run's id" in sf.evaluate("grading", grading).errors["input_run"]
    assert "no run" in sf.evaluate("grading", grading | {"input_run": "nope"}, home=tmp_path).errors["input_run"]
    make_run(tmp_path, "inference-20260528-000000-aaaa")
    assert sf.evaluate("grading", grading | {"input_run": "inference-20260528"}, home=tmp_path).ok


def test_clone_prefill_keeps_values_and_reports_unknown_keys():
    descriptors = sf.describe_stage("grading")
    data = {"stage": "grading", "input_run": "abc", "timeout": 9.5, "workers": 3, "old_option": 1,
            "then": [{"stage": "tagging"}]}
    values, unknown = sf.initial_values(descriptors, data)
    assert values["timeout"] == "9.5" and values["workers"] == "3" and values["input_run"] == "abc"
    assert values["then"] == '[{stage = "tagging"}]' and values["domain"] == ""
    assert unknown == ["old_option"]


def test_inline_toml_writes_what_tomllib_reads():
    value = {"a b": [1, 2.5, True, "x\"y"], "plain": {"k": "v"}, "skip": None}
    assert tomllib.loads(f"v = {sf.inline_toml(value)}")["v"] == {"a b": [1, 2.5, True, 'x"y'], "plain": {"k": "v"}}


class ToySection(StrictModel):
    level: int = Field(3, ge=1, description="how loud")


class ToySpec(BaseSpec):
    stage: Literal["toy"] = "toy"
    name: str = Field(description="required: no default")
    mode: Literal["fast", "slow"] = "fast"
    section: ToySection = Field(default_factory=ToySection)


def test_a_new_stage_gets_a_form_with_no_form_code(monkeypatch):
    """Any registered spec model works: a required field, a literal, a nested section."""
    import experiments.stages as stages

    monkeypatch.setitem(stages.STAGES._stages, "toy", Stage("toy", "ToySpec", "a toy stage", needs_input=False,
                                                          package="experiments.stages.toy"))
    monkeypatch.setattr(Stage, "spec_model", lambda self: ToySpec if self.name == "toy" else
                        getattr(self.module("spec"), self.spec))
    fields = by_key(sf.describe_stage("toy"))
    assert fields["name"].required and fields["section.level"].help == "how loud (≥ 1)"
    values, _ = sf.initial_values(sf.describe_stage("toy"))
    assert values["name"] == "" and values["mode"] == "fast"
    assert "Field required" in sf.evaluate("toy", values).errors["name"]
    state = sf.evaluate("toy", values | {"name": "x", "section.level": "5"})
    assert state.ok and 'name = "x"' in state.toml and "level = 5" in state.toml


def test_descriptors_of_a_plain_model():
    class Plain(BaseModel):
        flag: bool = True

    (desc,) = sf.describe(Plain)
    assert (desc.kind, desc.default, sf.widget_value(desc, desc.default)) == ("bool", True, True)
    with pytest.raises(ValueError):
        sf.parse_value(sf.FieldDescriptor(("x",), "toml", default=[]), "[1,")
