"""Launch-time refusals (issue 7 b, c, f): a bad `then` chain (a pipeline), an impossible GPU layout, unknown keys
and secrets are refused before anything runs."""

from __future__ import annotations

import pytest

from experiments import api
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, SpecError
from experiments.stages import parse_spec, spec_from_toml
from experiments.stages.inference.spec import InferenceSpec
from tests.tui_fixtures import no_workers


def no_runs(home) -> bool:
    return not list(RunStore.list(home))


@pytest.fixture
def started(monkeypatch):
    """Launches create real run folders; no worker starts. Each: (run id, the worker groups it would start)."""
    return no_workers(monkeypatch)


# -- b: the whole chain is checked at launch ----------------------------------------------------------------
@pytest.mark.parametrize("entry, expected", [
    ({"stage": "grading", "timout": 5}, "did you mean 'timeout'"),
    ({"stage": "gradng"}, "unknown stage 'gradng'"),
    ({"stage": "tagging", "style": "curly"}, "style"),
])
def test_then_typo_is_refused_at_launch(tmp_path, started, entry, expected):
    spec = {"stage": "inference", "dataset": {"source": "arith", "limit": 2}, "then": [entry]}
    with pytest.raises(SpecError, match="step '") as caught:
        api.launch(spec, tmp_path)
    assert expected in str(caught.value)
    assert no_runs(tmp_path) and not started  # nothing created, nothing started


def test_a_later_then_entry_and_a_nested_chain_are_checked_too(tmp_path, started):
    later = {"stage": "inference", "then": [{"stage": "grading"}, {"stage": "tagging", "verdct": "rule"}]}
    with pytest.raises(SpecError, match="step 'tagging'.*did you mean 'verdict'"):
        api.launch(later, tmp_path)
    nested = {"stage": "inference", "then": [{"stage": "grading", "then": [{"stage": "tagging", "sytle": "x"}]}]}
    with pytest.raises(SpecError, match="step 'tagging'.*did you mean 'style'"):
        api.launch(nested, tmp_path)
    assert no_runs(tmp_path) and not started


def test_a_valid_chain_launches(tmp_path, started):
    run_id = api.launch({"stage": "inference", "then": [{"stage": "grading", "timeout": 5},
                                                         {"stage": "tagging"}]}, tmp_path)
    assert RunStore.open(run_id, tmp_path).manifest()["status"] == "queued" and len(started) == 1


# -- c: impossible GPU layouts ------------------------------------------------------------------------------
def test_too_few_gpus_for_tensor_parallel_is_refused(tmp_path, started):
    with pytest.raises(ValueError, match=r"tensor_parallel = 2 needs at least 2 GPUs.*gpus = \[0\]"):
        api.launch(InferenceSpec(gpus=[0], tensor_parallel=2), tmp_path)
    with pytest.raises(ValueError, match="twice"):
        api.launch(InferenceSpec(gpus=[0, 0], tensor_parallel=1), tmp_path)
    assert no_runs(tmp_path) and not started


def test_unused_gpus_are_named_in_a_warning(tmp_path, started):
    run_id = api.launch(InferenceSpec(gpus=[0, 1, 2], tensor_parallel=2), tmp_path)
    warning = RunStore.open(run_id, tmp_path).manifest()["layout_warning"]
    assert "[2]" in warning and "unused" in warning
    assert [groups for _, groups in started] == [[{"CUDA_VISIBLE_DEVICES": "0,1"}]]  # one engine on GPUs 0, 1
    run_id = api.launch(InferenceSpec(gpus=[0, 1, 2, 3], tensor_parallel=2), tmp_path)
    assert "layout_warning" not in RunStore.open(run_id, tmp_path).manifest()
    assert started[-1][1] == [{"CUDA_VISIBLE_DEVICES": "0,1"}, {"CUDA_VISIBLE_DEVICES": "2,3"}]


# -- f: unknown keys and secrets ----------------------------------------------------------------------------
def test_unknown_sampling_key_is_refused_with_a_suggestion(tmp_path):
    with pytest.raises(SpecError, match="unknown key 'sampling.temprature'; did you mean 'temperature'"):
        parse_spec({"stage": "inference", "sampling": {"temprature": 0.7}})
    with pytest.raises(SpecError, match="did you mean 'temperature'"):
        spec_from_toml('stage = "inference"\n[sampling]\ntemprature = 0.7\n')
    spec_file = tmp_path / "typo.toml"
    spec_file.write_text('stage = "inference"\n[sampling]\ntemprature = 0.7\n')
    from experiments.cli.main import main

    assert main(["--home", str(tmp_path), "run", str(spec_file), "--detach"]) == 2
    assert no_runs(tmp_path)


@pytest.mark.parametrize("key", ["api_key", "hf_token", "password", "apikey", "auth_token", "secret"])
def test_secret_options_are_refused(key):
    with pytest.raises(ValueError, match="looks like a secret"):
        BackendSpec(options={key: "x"})


@pytest.mark.parametrize("key", ["max_num_batched_tokens", "tokenizer", "tokenizer_mode", "api_key_env",
                                 "max_tokens", "batch_size", "base_url"])
def test_engine_options_are_not_secrets(key):
    assert key in BackendSpec(options={key: "x"}).options
