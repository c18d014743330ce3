"""Guided decoding killed -9 at five seeded event counts in one run (tiny random models: an hf base on this
machine, the oracle over HTTP with an API key from the environment, failing twice early on), resumed after each:
the same interleaved text, sources and cheat positions as an uninterrupted run, and the key nowhere in the run's
files."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.runs.store import RunStore
from experiments.specs import BackendSpec
from experiments.stages.guided.spec import GuidedSpec
from tests.faults.killer import compare, computed_once, plan_kills, reference_run, report, run_with_kills
from tests.faults.leaks import FAKE_KEY, KEY_ENV, assert_no_key
from tests.faults.proxy import PASS, Fault, FaultProxy
from tests.guided_models import tiny_llama

SEED = 1905
FLAKY = {2: Fault("status", 503), 3: Fault("drop")}  # the oracle fails twice, early in the reference run


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory, embedded_model: str):  # noqa: ANN201
    """A tiny base and a tiny oracle on the embedded tokenizer; the oracle served over HTTP behind a proxy that
    records the Authorization header it is sent."""
    import torch
    from transformers import AutoTokenizer

    from backends.hf_server import HFCompletionServer

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("guided-faults")
    tok = AutoTokenizer.from_pretrained(embedded_model)
    base = tiny_llama(root / "base", tok, seed=11)
    oracle = tiny_llama(root / "oracle", tok, hidden=48, layers=3, heads=6, kv_heads=3, seed=12)
    server = HFCompletionServer(oracle)
    proxy = FaultProxy(server.httpd.server_address[1], lambda n, body: FLAKY.get(n, PASS))
    yield {"base": base, "oracle": oracle, "proxy": proxy}
    proxy.close()
    server.stop()


def test_guided_survives_five_kills(fault_home: Path, oracle: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = GuidedSpec(base=oracle["base"], oracle="tiny-oracle", dataset={"source": "arith", "limit": 2},
                      policy="always", c=1, k=2, step_size=2, max_new_tokens=6, chunk_size=1, ignore_eos=True,
                      oracle_backend=BackendSpec(kind="openai_compat", options={
                          "base_url": oracle["proxy"].base_url, "tokenizer": oracle["oracle"],
                          "api_key_env": KEY_ENV, "concurrency": 2}))
    reference = reference_run(spec, fault_home)
    assert reference.manifest()["retries"] == {"http_503": 1, "connection": 1}, "retried, and counted"
    # kill points are chunks (one block of one (c, k) cell): a kill after each of the first five, mid-cell and at
    # cell boundaries, a seeded 0-5 ms later (while the next block generates, or its cell is published)
    points = plan_kills(reference, fault_home, SEED, kind="chunk", share=1.0)
    run = run_with_kills(spec, fault_home, points, SEED, kind="chunk")
    assert run.landed >= 5, run.kills
    faulted = RunStore.open(run.run_id, fault_home)
    key = ("c", "k", "example_id", "sample_idx")
    compared, lost = compare(reference, faulted, ("result", "interleaved_outputs", "cheat_positions",
                                                  "total_tokens_generated", "acc", "parsed_answer"), key=key)
    computed_once(run)
    assert faulted.manifest()["chunks_in_flight"] == 1, "the bound: a kill loses at most the chunk in flight"
    assert compared == 6 and {(r["c"], r["k"]) for r in faulted.records()} == {(0, 0), (1, 2), (-1, -1)}
    assert [g["n"] for g in faulted.manifest()["summary"]["grid"]] == [2, 2, 2]
    assert {s.auth for s in oracle["proxy"].seen} == {f"Bearer {FAKE_KEY}"}, "the key was sent..."
    assert_no_key(reference.dir, faulted.dir)  # ...and never written down
    report("guided", run, compared, lost)
