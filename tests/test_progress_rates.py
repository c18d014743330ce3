"""Rates and ETAs read from synthetic event streams with known timestamps (issue 7 n): a burst of results at the
end of a slow run, the final forced progress event, and a resume that skips chunks already done."""

from __future__ import annotations

import pytest

from experiments.cli.progress import _progress_line
from experiments.runs.events import ProgressEvent, StatusEvent
from experiments.runs.state import RunState


def feed(state: RunState, events: list[object]) -> RunState:
    for event in events:
        state.consume(event)  # type: ignore[arg-type]
    return state


def running(ts: float) -> StatusEvent:
    return StatusEvent(status="running", ts=ts)


def progress(done: int, ts: float, total: int = 20, rate: float | None = None) -> ProgressEvent:
    return ProgressEvent(done=done, total=total, unit="samples", ts=ts, rate=rate)


def slow_run_with_a_final_burst() -> list[object]:
    """20 samples in 191 s: nothing for a long model load and decode, then results land within milliseconds
    (an hf batch yields all its results at once); the writer's own rate claims hundreds per second."""
    events: list[object] = [running(1000.0), progress(0, 1000.0)]
    events += [progress(8 + i, 1100.0 + i * 0.003, rate=300.0) for i in range(8)]
    events += [progress(16 + i, 1190.99 + i * 0.003, rate=361.88) for i in range(5)]
    events += [progress(20, 1191.0, rate=361.88), StatusEvent(status="done", ts=1191.1)]
    return events


def test_final_line_after_a_burst_reports_the_true_average_rate() -> None:
    state = feed(RunState(), slow_run_with_a_final_burst())
    assert state.rate == pytest.approx(20 / 191.0, rel=1e-3)
    line = _progress_line(state)
    assert "20/20 samples (100%) · 0.10 samples/s" in line
    assert state.eta_seconds is None


def test_running_rate_and_eta_use_a_window_anchored_before_a_burst() -> None:
    state = feed(RunState(), slow_run_with_a_final_burst()[:12])  # stop in the middle of the last burst
    assert state.status == "running" and state.done == 17
    # the window (30 s) holds the burst only; its anchor is the last point before it, at t=1100.021 with 15 done
    assert state.rate == pytest.approx((17 - 15) / (1190.993 - 1100.021), rel=1e-3)
    assert state.eta_seconds == pytest.approx(3 / state.rate, rel=1e-6)


def test_rate_after_a_resume_counts_only_the_samples_computed_since() -> None:
    events = slow_run_with_a_final_burst()[:10] + [StatusEvent(status="cancelled", ts=1101.0)]
    state = feed(RunState(), events)
    assert state.status == "cancelled" and state.done == 15
    # resume at t=2000: 12 samples already on disk (skipped chunks) must not count as computed in no time
    feed(state, [running(2000.0), progress(12, 2000.0), progress(16, 2040.0)])
    assert state.rate == pytest.approx(4 / 40.0)
    assert state.eta_seconds == pytest.approx(4 / 0.1)
    feed(state, [progress(20, 2080.0), progress(20, 2080.0), StatusEvent(status="done", ts=2080.1)])
    assert state.rate == pytest.approx(8 / 80.0)
    assert _progress_line(state).endswith("· 0.10 samples/s")  # done: no ETA


def test_a_second_data_parallel_worker_starting_does_not_reset_the_rate() -> None:
    state = feed(RunState(), [running(0.0), progress(0, 0.0), progress(10, 10.0), running(10.5),
                              progress(14, 12.0)])
    assert state.rate == pytest.approx(14 / 12.0)


def test_emitter_rate_is_measured_over_time_not_over_a_burst(tmp_path) -> None:  # noqa: ANN001
    import json
    import time

    from experiments.runs import emit as emit_mod
    from experiments.runs.emit import Emitter

    emitter = Emitter(tmp_path / "events.jsonl", "r")
    clock = [100.0]
    real = time.monotonic
    emit_mod.time.monotonic = lambda: clock[0]  # type: ignore[attr-defined]
    try:
        emitter.progress(0, 20, force=True)
        clock[0] = 160.0  # a long silence (model load, a slow batch), then a burst
        for done in range(1, 21):
            clock[0] += 0.001
            emitter.progress(done, 20, force=True)
    finally:
        emit_mod.time.monotonic = real  # type: ignore[attr-defined]
    last = json.loads((tmp_path / "events.jsonl").read_text().splitlines()[-1])
    assert last["done"] == 20 and last["rate"] == pytest.approx(20 / 60.02, rel=1e-3)


def test_a_landed_chunk_is_shown_at_once_after_a_burst(tmp_path) -> None:  # noqa: ANN001
    """An hf batch yields its results within microseconds, then the engine may be silent for minutes: the progress
    written when the chunk lands must already count the whole burst (the CLI once sat at 1/20 with 8 done)."""
    import json

    from backends.base import GenerationResult
    from experiments.datasets import load_examples
    from experiments.datasets.base import DatasetSpec
    from experiments.runs.context import StageContext
    from experiments.runs.emit import Emitter
    from experiments.runs.store import RunStore
    from experiments.specs import spec_to_toml
    from experiments.stages.inference.run import ChunkAssembler, chunk_examples
    from experiments.stages.inference.spec import InferenceSpec

    spec = InferenceSpec(dataset=DatasetSpec(source="arith", limit=8), chunk_size=4)
    store = RunStore.create(spec_to_toml(spec), "inference", tmp_path)
    ctx = StageContext(store=store, emit=Emitter(store.events_path, store.run_id))
    chunks = chunk_examples(load_examples(spec.dataset).examples, 4)
    assembler = ChunkAssembler(spec, ctx, chunks, [0, 1], 8, lambda: sum(4 for _ in store.done_chunks()))
    for ex in chunks[0]:
        assembler.messages[ex.example_id] = ({"role": "user", "content": ex.question},)
        assembler.take(GenerationResult(key=(0, ex.example_id), sample_idx=0, text="4", finish_reason="stop",
                                        prompt_tokens=5, completion_tokens=2))
    events = [json.loads(line) for line in store.events_path.read_text().splitlines()]
    shown = [e["done"] for e in events if e["type"] == "progress"]
    assert shown[-1] == 4, shown
