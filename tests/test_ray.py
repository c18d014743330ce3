"""Inference on a Ray cluster: a local multi-node cluster started by the test, the hf backend on CPU, and a node
killed mid-run. The run must finish with every record exactly once, redoing at most the chunks in flight."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from experiments import api
from experiments.datasets.base import DatasetSpec
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, SamplingSpec
from experiments.stages.inference.spec import InferenceSpec

pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.ray]
MB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster():  # noqa: ANN201
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 80 * MB,
                                                      "include_dashboard": False})
    nodes = [c.add_node(num_cpus=1, object_store_memory=80 * MB, resources={"engine": 1}) for _ in range(2)]
    c.wait_for_nodes()
    yield c, nodes
    c.shutdown()


def ray_spec(address: str, limit: int = 16) -> InferenceSpec:
    return InferenceSpec(dataset=DatasetSpec(source="arith", limit=limit), chunk_size=2,
                         backend=BackendSpec(kind="hf", options={"batch_size": 2}),
                         sampling=SamplingSpec(max_tokens=8), ray_address=address, ray_actors=2,
                         ray_resources={"engine": 1})


def computed_chunks(store: RunStore) -> list[int]:
    rows = [json.loads(line) for line in store.events_path.read_text().splitlines()]
    return [r["index"] for r in rows if r["type"] == "chunk" and r["action"] == "computed"]


def test_resume_on_ray_skips_written_chunks(home: Path, embedded_model: str, cluster) -> None:  # noqa: ANN001
    c, _ = cluster
    run_id = api.launch(ray_spec(c.address, limit=8), home)
    assert api.wait(run_id, home, timeout=240) == "done"
    store = RunStore.open(run_id, home)
    first = store.records()
    store.chunk_path(1).unlink()
    api.resume(run_id, home)
    assert api.wait(run_id, home, timeout=240) == "done"
    assert store.records() == first
    assert computed_chunks(store).count(1) == 2 and computed_chunks(store).count(0) == 1


def test_node_killed_mid_run_loses_only_chunks_in_flight(home: Path, embedded_model: str, cluster) -> None:  # noqa: ANN001
    c, nodes = cluster
    run_id = api.launch(ray_spec(c.address), home)
    store = RunStore.open(run_id, home)
    deadline = time.monotonic() + 180
    while not store.done_chunks():  # both actors busy: kill one node while its chunk is in flight
        assert store.effective_status() in ("queued", "running"), store.manifest()
        assert time.monotonic() < deadline, "no chunk came back from the Ray actors"
        time.sleep(0.2)
    c.remove_node(nodes[0])
    assert api.wait(run_id, home, timeout=240) == "done", store.manifest()
    records = store.records()
    assert sorted((r["example_id"], r["sample_idx"]) for r in records) == sorted(
        {(r["example_id"], r["sample_idx"]) for r in records})
    assert len(records) == 16
    computed = computed_chunks(store)
    assert sorted(set(computed)) == list(range(8))
    assert len(computed) == 8  # a lost chunk is never written, so each chunk lands once
    log = store.events_path.read_text()
    assert "re-queued" in log or "actor lost" in log or len(store.done_chunks()) == 8
