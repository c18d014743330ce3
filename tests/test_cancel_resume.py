"""Cancellation is never an item error (issue 7 a): SIGTERM mid-chunk ends a real worker `cancelled` with nothing
recorded as a generation error, and resume completes the run with every example exactly once."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from backends.base import GenerationRequest, SamplingParams
from experiments import api
from experiments.datasets import load_examples
from experiments.datasets.base import DatasetSpec
from experiments.runs.context import Cancelled
from experiments.runs.store import RunStore
from experiments.runs.worker import _raise_cancelled
from experiments.specs import BackendSpec, SamplingSpec
from experiments.stages.inference.spec import InferenceSpec


def test_cancelled_is_not_an_exception() -> None:
    """`except Exception` is how engines, graders and stages turn one bad item into an item error."""
    assert issubclass(Cancelled, BaseException) and not issubclass(Cancelled, Exception)


class SignalledTokenizer:
    """Tokenises like any tokenizer, but the worker is cancelled (a real SIGTERM) while it renders prompt 2."""

    def __init__(self) -> None:
        self.calls = 0

    def apply_chat_template(self, messages: list[dict[str, str]], **_: Any) -> str:
        self.calls += 1
        if self.calls == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return messages[-1]["content"]

    def __call__(self, text: str, **_: Any) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) for c in text]}


class RecordingEngine:
    def __init__(self) -> None:
        self.added: list[str] = []
        self.aborted: list[str] = []

    def add_request(self, rid: str, prompt: Any, params: Any) -> None:
        self.added.append(rid)

    def abort_request(self, rids: list[str]) -> None:
        self.aborted += rids

    def step(self) -> list[Any]:
        return []


def test_sigterm_while_the_vllm_backend_tokenises_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vLLM feed loop's per-prompt `except Exception` used to make the cancellation an error result."""
    import itertools

    from backends.vllm_engine import VLLMGenerator

    gen = VLLMGenerator.__new__(VLLMGenerator)  # the feed loop only; no engine can start on this machine
    gen.tokenizer, gen.engine = SignalledTokenizer(), RecordingEngine()
    gen.max_prompt_length, gen.truncation, gen.max_in_flight = None, "left", 8
    gen._ids, gen._busy = itertools.count(), threading.Lock()
    monkeypatch.setattr(gen, "_sampling_params", lambda params, key: None)
    requests = [GenerationRequest(key=i, messages=({"role": "user", "content": f"q{i}"},)) for i in range(3)]
    previous = signal.signal(signal.SIGTERM, _raise_cancelled)
    yielded: list[Any] = []
    try:
        with pytest.raises(Cancelled):
            for result in gen.generate(requests, SamplingParams()):
                yielded.append(result)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert yielded == [], "no error result stands in for the cancelled prompt"
    assert gen.engine.aborted == gen.engine.added == ["cc0"], "what was in the engine is aborted"


def test_grading_workers_leave_sigterm_to_their_parent() -> None:
    """`cancel` signals the whole process group; a grading worker dying of it made its item an error."""
    from experiments.grading.pool import GradeItem, GradingPool

    item = GradeItem("math", "The answer is \\boxed{4}.", "4")
    with GradingPool(workers=1, timeout=30) as pool:
        pool.grade_all([item])  # the worker is up and serving
        worker = pool._workers[0].proc
        os.kill(worker.pid, signal.SIGTERM)
        time.sleep(0.3)
        [verdict] = pool.grade_all([item])
        assert worker.is_alive() and pool.restarts == 0
    assert verdict.status != "error" and verdict.correct is True


def events(store: RunStore) -> list[dict[str, Any]]:
    return [json.loads(line) for line in store.events_path.read_text().splitlines()]


@pytest.mark.slow
def test_sigterm_mid_chunk_then_resume_loses_nothing(home: Path, embedded_model: str) -> None:
    spec = InferenceSpec(dataset=DatasetSpec(source="arith", limit=12), chunk_size=2,
                         backend=BackendSpec(kind="hf", options={"batch_size": 2}),
                         sampling=SamplingSpec(max_tokens=6))
    run_id = api.launch(spec, home)
    store = RunStore.open(run_id, home)
    deadline = time.monotonic() + 300
    while not store.done_chunks():
        assert time.monotonic() < deadline and store.effective_status() in ("running", "queued")
        time.sleep(0.02)
    api.cancel(run_id, home)
    assert store.effective_status() == "cancelled", store.log_path.read_text()[-2000:]
    done_at_cancel = store.done_chunks()
    assert 1 <= len(done_at_cancel) < 6, "cancelled mid-run"
    assert store.errors() == [], "a cancellation is never an item error"
    evs = events(store)
    assert not [e for e in evs if e["type"] == "item_error"]
    assert [e["status"] for e in evs if e["type"] == "status"][-1] == "cancelled"
    api.resume(run_id, home)
    assert api.wait(run_id, home, timeout=300) == "done", store.log_path.read_text()[-2000:]
    expected = sorted(ex.example_id for ex in load_examples(spec.dataset).examples)
    assert sorted(r["example_id"] for r in store.records()) == expected, "every example exactly once"
    assert store.errors() == [] and store.manifest()["counts"]["records"] == 12
