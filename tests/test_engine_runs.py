"""Inference runs through the HTTP engine paths: a session vLLM server, and `server = "local"` (own server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments import api
from experiments.datasets.base import DatasetSpec
from experiments.runs.jobs import worker_groups
from experiments.runs.lineage import chain
from experiments.runs.store import RunStore, pid_alive
from experiments.specs import BackendSpec, SamplingSpec
from experiments.stages.inference.spec import InferenceSpec


def test_worker_groups_split_gpus_by_tensor_parallel() -> None:
    spec = InferenceSpec(gpus=[0, 1, 2, 3], tensor_parallel=2)
    assert worker_groups(spec) == [{"CUDA_VISIBLE_DEVICES": "0,1"}, {"CUDA_VISIBLE_DEVICES": "2,3"}]
    assert worker_groups(InferenceSpec(data_parallel=3)) == [{}, {}, {}]
    assert worker_groups(InferenceSpec(gpus=[5])) == [{"CUDA_VISIBLE_DEVICES": "5"}]


def run_done(spec: InferenceSpec, home: Path, timeout: float = 300) -> RunStore:
    run_id = api.launch(spec, home)
    status = api.wait(run_id, home, timeout=timeout)
    store = RunStore.open(run_id, home)
    assert status == "done", (store.manifest().get("error"), store.log_path.read_text()[-3000:])
    return chain(run_id, home)[0]  # a spec with `then` runs as a pipeline: its first step is the inference run


@pytest.mark.vllm
def test_inference_run_against_a_served_model(vllm_server, home: Path) -> None:  # noqa: ANN001
    spec = InferenceSpec(
        dataset=DatasetSpec(source="arith", limit=3), model=vllm_server.model, chunk_size=2,
        backend=BackendSpec(kind="openai_compat", options={"base_url": vllm_server.base_url, "concurrency": 4}),
        sampling=SamplingSpec(max_tokens=16, n=2, temperature=0.8), then=[{"stage": "grading"}])
    store = run_done(spec, home)
    records = store.records()
    assert len(records) == 6 and {r["sample_idx"] for r in records} == {0, 1}
    assert all(r["prompt_tokens"] > 0 and r["completion_tokens"] > 0 for r in records)
    assert store.manifest()["backend"]["backend"] == "openai_compat"
    assert "api_key" not in store.spec_text().replace("api_key_env", "")


@pytest.mark.vllm
def test_server_local_starts_and_stops_its_own_server(home: Path) -> None:
    from backends.vllm_engine import vllm_available

    ok, why = vllm_available()
    if not ok:
        pytest.skip(f"vllm unavailable: {why}")
    spec = InferenceSpec(dataset=DatasetSpec(source="arith", limit=2), model="smollm2-135m",
                         backend=BackendSpec(kind="openai_compat", server="local",
                                             server_args=["--max-model-len", "1024"]),
                         sampling=SamplingSpec(max_tokens=8))
    store = run_done(spec, home, timeout=400)
    assert len(store.records()) == 2
    server = store.manifest()["server"]
    assert server["base_url"].startswith("http://127.0.0.1:")
    assert not pid_alive(server["pid"]), "the run stops the server it started"
    assert (store.dir / "server.log").exists()
