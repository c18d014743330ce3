"""The inference stage's chunk bookkeeping through real workers against an OpenAI-compatible HTTP server
started here (no model: fast). Every failed sample is recorded (issue 7 d); kill -9 at random points loses at most
`max_chunks_in_flight` chunks, measured by what the server actually received (issue 7 i)."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from experiments import api
from experiments.datasets import load_examples
from experiments.datasets.base import DatasetSpec
from experiments.prompts import render_messages
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, SamplingSpec
from experiments.stages.inference.spec import InferenceSpec
from tests.chat_server import ChatServer


@pytest.fixture
def chat_server(request: pytest.FixtureRequest) -> Iterator[ChatServer]:
    server = ChatServer(**getattr(request, "param", {}))
    yield server
    server.close()


def served_spec(server: ChatServer, limit: int, **overrides: Any) -> InferenceSpec:
    base: dict[str, Any] = dict(
        dataset=DatasetSpec(source="arith", limit=limit), model="m", chunk_size=2,
        backend=BackendSpec(kind="openai_compat", options={"base_url": server.base_url, "concurrency": 8,
                                                           "max_retries": 0}),
        sampling=SamplingSpec(max_tokens=8))
    return InferenceSpec(**{**base, **overrides})


def events(store: RunStore) -> list[dict[str, Any]]:
    return [json.loads(line) for line in store.events_path.read_text().splitlines()]


@pytest.mark.parametrize("chat_server", [{"fail_sample": 1}], indirect=True)
def test_errors_on_samples_other_than_the_first_are_recorded(home: Path, chat_server: ChatServer) -> None:
    spec = served_spec(chat_server, limit=3, sampling=SamplingSpec(n=3, max_tokens=8))
    run_id = api.launch(spec, home)
    store = RunStore.open(run_id, home)
    assert api.wait(run_id, home, timeout=60) == "done", store.log_path.read_text()[-2000:]
    ids = [ex.example_id for ex in load_examples(spec.dataset).examples]
    assert sorted((r["example_id"], r["sample_idx"]) for r in store.records()) == [
        (i, s) for i in ids for s in (0, 2)]
    errors = {e["item_id"]: e["reason"] for e in store.errors()}
    assert errors == {f"{i}#1": "generation_error" for i in ids}
    item_errors = sorted(e["item_id"] for e in events(store) if e["type"] == "item_error")
    assert item_errors == sorted(errors)
    assert store.manifest()["summary"]["errors"] == 3


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("chat_server", [{"delay": 0.1}], indirect=True)
def test_kill9_at_random_points_loses_at_most_max_chunks_in_flight(home: Path, chat_server: ChatServer) -> None:
    bound = 2
    spec = served_spec(chat_server, limit=30, max_chunks_in_flight=bound)
    examples = load_examples(spec.dataset).examples
    chunk_of = {render_messages(ex, spec.dataset.template, spec.dataset.system_prompt)[-1]["content"]: i // 2
                for i, ex in enumerate(examples)}
    assert len(chunk_of) == len(examples), "a prompt names its chunk (arith repeats a question after 30)"
    n_chunks = len(examples) // 2
    run_id = api.launch(spec, home)
    store = RunStore.open(run_id, home)
    rng = random.Random(7)
    lost_per_kill = []
    for _ in range(3):
        done_at_start = len(store.done_chunks())
        wait_for(lambda: len(store.done_chunks()) > done_at_start, 60, "a chunk of this attempt")  # noqa: B023
        time.sleep(rng.uniform(0.0, 0.5))
        if store.effective_status() != "running":
            break
        os.kill(store.manifest()["pids"][0], signal.SIGKILL)
        wait_for(lambda: store.effective_status() == "interrupted", 30, "the worker to die")
        time.sleep(0.3)  # requests already on the wire reach the server
        started = {chunk_of[p] for p in chat_server.received()}
        lost = started - set(store.done_chunks())
        assert len(lost) <= bound, f"kill -9 lost chunks {sorted(lost)} (> max_chunks_in_flight {bound})"
        lost_per_kill.append(len(lost))
        api.resume(run_id, home)
    assert api.wait(run_id, home, timeout=120) == "done", store.log_path.read_text()[-2000:]
    assert len(lost_per_kill) >= 2, "the kills landed while the run was going"
    keys = [(r["example_id"], r["sample_idx"]) for r in store.records()]
    assert sorted(keys) == sorted((ex.example_id, 0) for ex in examples), "every example exactly once"
    computed = [e["index"] for e in events(store) if e["type"] == "chunk" and e["action"] == "computed"]
    assert sorted(computed) == list(range(n_chunks)), "each chunk computed once across the runs"
    resent = len(chat_server.received()) - len(examples)
    assert resent <= bound * 2 * len(lost_per_kill), "recomputed work stays within the bound per kill"
