"""Run store, events and the RunState reducer (no model, no Textual)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.runs.emit import Emitter
from experiments.runs.events import LogEvent, ProgressEvent, StatusEvent, parse_event
from experiments.runs.state import EventTail, RunState, format_eta, load_state
from experiments.runs.store import RunStore
from experiments.specs import spec_to_toml
from experiments.stages import parse_spec, spec_from_toml
from experiments.stages.grading.spec import GradingSpec
from experiments.stages.inference.spec import InferenceSpec


def make_store(home: Path) -> RunStore:
    return RunStore.create(spec_to_toml(InferenceSpec()), "inference", home)


def test_create_layout_and_manifest(home: Path) -> None:
    store = make_store(home)
    assert store.dir.parent == home / "runs"
    for name in ("spec.toml", "manifest.json", "chunks", "outputs"):
        assert (store.dir / name).exists(), name
    manifest = store.manifest()
    assert manifest["stage"] == "inference" and manifest["status"] == "queued"
    store.update_manifest(counts={"records": 3})
    store.update_manifest(counts={"errors": 1}, status="running")
    manifest = store.manifest()
    assert manifest["counts"] == {"records": 3, "errors": 1} and manifest["status"] == "running"
    assert not list(store.dir.glob(".manifest.json.*.tmp"))


def test_open_by_prefix_and_errors(home: Path) -> None:
    store = make_store(home)
    assert RunStore.open(store.run_id[:-2]).dir == store.dir
    with pytest.raises(FileNotFoundError):
        RunStore.open("nope")


def test_chunks_are_atomic_sorted_and_resumable(home: Path) -> None:
    store = make_store(home)
    rows = [{"example_id": "b", "sample_idx": 1}, {"example_id": "a", "sample_idx": 0},
            {"example_id": "b", "sample_idx": 0}]
    assert store.write_chunk(3, rows) == 3
    assert store.chunk_done(3) and not store.chunk_done(0)
    assert [(r["example_id"], r["sample_idx"]) for r in store.read_chunk(3)] == [("a", 0), ("b", 0), ("b", 1)]
    assert store.done_chunks() == [3]
    assert not list(store.chunks_dir.glob("*.tmp"))
    store.clear_chunks()
    assert store.done_chunks() == []


def test_errors_deduplicated_on_read(home: Path) -> None:
    store = make_store(home)
    store.add_error("x-1", "malformed_row", "line 2")
    store.add_error("x-1", "malformed_row", "line 2")  # a resumed run records it again
    store.add_error("x-2", "missing_field", "no answer")
    assert [(e["item_id"], e["reason"]) for e in store.errors()] == [("x-1", "malformed_row"),
                                                                      ("x-2", "missing_field")]


def test_emitter_coalesces_progress_and_continues_seq(home: Path) -> None:
    store = make_store(home)
    emit = Emitter(store.events_path, store.run_id)
    emit.status("running")
    for i in range(1000):
        emit.progress(i, 1000)
    emit.flush()
    lines = store.events_path.read_text().splitlines()
    progress = [json.loads(line) for line in lines if '"progress"' in line]
    assert 1 <= len(progress) < 20, "progress must be coalesced"
    assert progress[-1]["done"] == 999, "the last value always lands"
    seqs = [json.loads(line)["seq"] for line in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    again = Emitter(store.events_path, store.run_id)
    again.log("resumed")
    assert json.loads(store.events_path.read_text().splitlines()[-1])["seq"] == seqs[-1] + 1


def test_runstate_reducer() -> None:
    state = RunState()
    state.consume(StatusEvent(status="running", run_id="r", ts=100.0))
    state.consume(ProgressEvent(done=5, total=20, unit="samples", rate=2.5, ts=102.0))
    state.consume(LogEvent(message="hello"))
    assert state.status == "running" and state.fraction == 0.25
    assert state.eta_seconds == pytest.approx(6.0)
    assert format_eta(state.eta_seconds) == "00:06"
    assert state.logs[-1].message == "hello"
    state.consume(parse_event('{"type": "item_error", "item_id": "a", "reason": "missing_field"}'))
    state.consume(parse_event('{"type": "chunk", "index": 2, "action": "skipped"}'))
    state.consume(parse_event('{"type": "metric", "name": "tokens_per_s", "value": 12.5}'))
    assert state.error_count == 1 and state.chunks_skipped == [2]
    assert state.latest_metric("tokens_per_s") == 12.5
    state.consume(StatusEvent(status="done"))
    assert state.eta_seconds is None


def test_event_tail_reads_incrementally_and_skips_torn_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.poll() == []
    path.write_text('{"type": "log", "message": "a"}\n{"type": "log", "mess')
    assert [e.message for e in tail.poll()] == ["a"]
    with path.open("a") as fh:
        fh.write('age": "b"}\nnot json\n')
    assert [e.message for e in tail.poll()] == ["b"]
    assert load_state(path).events_seen == 2


def test_spec_toml_roundtrip_and_no_secrets() -> None:
    spec = InferenceSpec(then=[{"stage": "grading"}])
    assert spec_from_toml(spec_to_toml(spec)) == spec
    assert isinstance(parse_spec({"stage": "grading", "input_run": "x"}), GradingSpec)
    with pytest.raises(ValueError, match="secret"):
        parse_spec({"stage": "inference", "backend": {"kind": "openai_compat", "options": {"api_key": "sk-1"}}})
    ok = parse_spec({"stage": "inference", "backend": {"kind": "openai_compat",
                                                         "options": {"api_key_env": "MY_KEY"}}})
    assert ok.backend.options["api_key_env"] == "MY_KEY"
