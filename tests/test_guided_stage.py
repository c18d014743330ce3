"""The guided stage end to end on tiny random models: grid cells, records, events, resume, export, stats, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from experiments.runs.emit import Emitter
from experiments.runs.events import TokenBatchEvent, TokenPiece
from experiments.runs.state import load_state
from experiments.runs.store import RunStore
from experiments.runs.worker import run_worker
from experiments.specs import spec_to_toml
from experiments.stages import STAGES
from tests.guided_models import tiny_llama

GRID_KEYS = {"c", "k", "n", "correct", "accuracy", "oracle_tokens", "base_tokens", "tokens_per_s"}


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread: None) -> None:
    """Tiny models: one intra-op thread (see conftest)."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, embedded_model: str) -> dict[str, str]:
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("guided_stage")
    tok = AutoTokenizer.from_pretrained(embedded_model)
    return {"base": tiny_llama(root / "b", tok, seed=3),
            "oracle": tiny_llama(root / "o", tok, hidden=48, layers=3, heads=6, kv_heads=3, seed=4)}


def launch(home: Path, **kw: Any) -> RunStore:
    from experiments.stages.guided.spec import GuidedSpec

    spec = GuidedSpec(**kw)
    store = RunStore.create(spec_to_toml(spec), "guided", home)
    assert run_worker(store.dir, STAGES, home=home) == 0, store.manifest().get("error")
    return store


@pytest.mark.slow
def test_guided_run_grid_records_events_resume_export(home: Path, tiny: dict[str, str]) -> None:
    store = launch(home, base=tiny["base"], oracle=tiny["oracle"], dataset={"source": "arith", "limit": 3},
                   policy="always", c=2, k=3, step_size=4, max_new_tokens=12, chunk_size=2, ignore_eos=True)
    manifest = store.manifest()
    assert manifest["status"] == "done"
    grid = manifest["summary"]["grid"]
    assert [(g["c"], g["k"]) for g in grid] == [(0, 0), (2, 3), (-1, -1)]
    assert all(set(g) == GRID_KEYS and g["n"] == 3 for g in grid)
    assert grid[0]["oracle_tokens"] == 0 and grid[2]["base_tokens"] == 0
    assert grid[1]["oracle_tokens"] == 3 * (3 + 1) and grid[1]["base_tokens"] == 3 * 8  # the last k cut at 12
    assert json.loads(store.output_path("grid.json").read_text()) == grid
    records = store.records()
    assert len(records) == 9 and len(store.done_chunks()) == 6
    guided = [r for r in records if (r["c"], r["k"]) == (2, 3)]
    for r in guided:
        assert r["cheat_positions"] == [4, 11] and r["total_tokens_generated"] == 12
        assert "".join(s["text"] for s in r["interleaved_outputs"]) == r["result"]
        assert [s["source"] for s in r["interleaved_outputs"]][:2] == ["base", "oracle"]
        assert len(r["analysis_result"]) == 12 and r["acc"] in (0, 1) and r["ground_truth"]
        assert "entropy" in r["analysis_result"][0] and r["analysis_result"][4]["consult"] == 1.0
    state = load_state(store.events_path)
    streams = {}
    for piece_stream in _token_events(store):
        streams.setdefault(piece_stream.stream, []).extend(piece_stream.tokens)
    example = guided[0]
    stream = f"c2k3/{example['example_id']}#0"
    assert "".join(t.text for t in streams[stream]) == example["result"]
    assert [t.position for t in streams[stream]] == list(range(12))
    assert {t.source for t in streams[stream]} == {"base", "oracle"}
    assert sum(1 for t in streams[stream] if t.stats.get("consult") == 1.0) == 2
    cells = [a for a in state.artifacts if a.kind == "guided_cell"]
    assert [(a.summary["c"], a.summary["k"]) for a in cells] == [(0, 0), (2, 3), (-1, -1)]
    # resume recomputes only the missing chunk, with the same greedy result
    store.chunk_path(3).unlink()
    store.update_manifest(status="queued", reopen=True)  # what `resume` does
    assert run_worker(store.dir, STAGES, home=home) == 0
    def same(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "block_wall_s"} for r in rows]

    assert same(store.records()) == same(records)
    chunk_events = [e for e in load_state(store.events_path).chunks_computed]
    assert chunk_events[-1] == 3 and len(chunk_events) == 7
    from experiments.cli.main import main

    assert main(["--home", str(home), "export", store.run_id, "--format", "guided"]) == 0
    lines = [json.loads(x) for x in store.output_path("guided.jsonl").read_text().splitlines()]
    assert len(lines) == 9 and list(lines[0])[:13] == ["c", "k", "base_model_id", "oracle_model_id", "prompt",
                                                       "result", "ground_truth", "parsed_answer",
                                                       "interleaved_outputs", "cheat_positions",
                                                       "total_tokens_generated", "analysis_result", "acc"]
    # teacher-forced statistics afterwards equal those recorded during generation (where tokens re-encode same)
    assert main(["--home", str(home), "guided-stats", store.run_id]) == 0
    after = {(r["example_id"], r["c"]): r for r in map(json.loads, store.output_path("stats.jsonl").open())}
    compared = 0
    for r in records:
        tf = after[(r["example_id"], r["c"])]["analysis_result"]
        if [a["token"] for a in tf] != [a["token"] for a in r["analysis_result"]] or (r["c"], r["k"]) == (-1, -1):
            continue
        for during, teacher in zip(r["analysis_result"], tf, strict=True):
            if during["source"] == "base":
                assert teacher["entropy"] == pytest.approx(during["entropy"], abs=1e-3)
                compared += 1
    assert compared >= 12


def _token_events(store: RunStore) -> list[TokenBatchEvent]:
    from experiments.runs.events import parse_event

    return [e for e in map(parse_event, store.events_path.read_bytes().splitlines())
            if isinstance(e, TokenBatchEvent)]


def test_emitter_coalesces_tokens_per_stream(tmp_path: Path) -> None:
    emit = Emitter(tmp_path / "events.jsonl", "r")
    for i in range(150):
        emit.tokens("a", [TokenPiece(text="x", source="base", position=i)])
        emit.tokens("b", [TokenPiece(text="y", source="oracle", position=i)])
    emit.flush()
    events = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert all(e["type"] == "token_batch" for e in events)
    for stream in ("a", "b"):
        mine = [e for e in events if e["stream"] == stream]
        assert 3 <= len(mine) <= 10 and all(len(e["tokens"]) <= 64 for e in mine)
        assert [t["position"] for e in mine for t in e["tokens"]] == list(range(150))


def test_guide_prints_two_colours(tiny: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    from experiments.cli.main import main

    code = main(["guided", "prompt", "--base", tiny["base"], "--oracle", tiny["oracle"], "--policy", "always",
                 "--c", "2", "--k", "3", "--step-size", "4", "--max-new-tokens", "16", "--prompt", "What is 2+3?",
                 "--verbose", "--color", "always"])
    out = capsys.readouterr().out
    assert code == 0
    assert "\033[31m" in out and "\033[34m" in out and "[consult @4" in out and "consultations at [4, 11]" in out


def test_oracle_that_is_the_base_model_shares_its_session(home: Path, tiny: dict[str, str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Base == oracle on hf: one model loaded, one KV cache (said in the run's log), in the stage and in `guide`;
    token equality with two separate sessions is tested in test_guided_engine."""
    from experiments.cli.main import main

    store = launch(home, base=tiny["base"], oracle=tiny["base"], dataset={"source": "arith", "limit": 2},
                   policy="always", grid=[[2, 3]], step_size=4, max_new_tokens=12, ignore_eos=True, stats="none")
    events = [json.loads(x) for x in store.events_path.read_text().splitlines()]
    logs = [e["message"] for e in events if e["type"] == "log"]
    assert any("oracle is the base model: sharing its hf session" in m for m in logs)
    assert sum(1 for m in logs if m.startswith("base loaded")) == 1 and not any(m.startswith("oracle loaded")
                                                                               for m in logs)
    guided = [r for r in store.records() if (r["c"], r["k"]) == (2, 3)]
    assert len(guided) == 2 and all(r["cheat_positions"] == [4, 11] for r in guided)
    assert [s["source"] for s in guided[0]["interleaved_outputs"]] == ["base", "oracle", "base", "oracle"]
    code = main(["guide", "--base", tiny["base"], "--oracle", tiny["base"], "--policy", "always", "--c", "2",
                 "--k", "3", "--step-size", "4", "--max-new-tokens", "12", "--prompt", "What is 2+3?"])
    shared = capsys.readouterr()
    assert code == 0 and "sharing its hf session" in shared.err


def test_guided_command_builds_a_valid_spec() -> None:
    from experiments.cli.main import parse
    from experiments.stages import parse_spec, spec_from_toml

    argv = ["--base", "b", "--oracle", "o", "--oracle-engine", "openai_compat", "--oracle-url",
            "http://127.0.0.1:9/v1", "--policy", "entropy", "--threshold", "2.5", "--grid", "5,10", "20,10",
            "--limit", "4"]
    _, args = parse(["guided", "run", *argv])
    spec = parse_spec(args.spec_args.build(args))
    assert spec.cells() == [(0, 0), (5, 10), (20, 10), (-1, -1)]
    assert spec.oracle_backend.options == {"base_url": "http://127.0.0.1:9/v1"} and spec.threshold == 2.5
    assert spec.dataset.source == "arith" and spec.dataset.limit == 4  # --limit keeps the spec's own dataset
    assert spec_from_toml(spec_to_toml(spec)) == spec
    _, old = parse(["guided", *argv])  # the old form: `guided` with options is `guided run`
    assert parse_spec(old.spec_args.build(old)) == spec
    with pytest.raises(ValueError, match="grid"):
        parse_spec({"stage": "guided", "grid": [[1, 2, 3]]})
