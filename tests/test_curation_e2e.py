"""End to end: two inference runs of the embedded model (greedy = weak, sampled = strong) over 30 arith questions
with n = 4 -> grading -> pass rates (`confconsole run spec.toml`) -> buckets -> filter -> mixed -> critique -> a verl
parquet read back by pandas. Expectations are recomputed by hand from the graded records."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from experiments import api
from experiments.cli.main import main
from experiments.runs.store import RunStore
from experiments.stages.curation.buckets import BUCKETS

pytestmark = pytest.mark.slow
QUESTIONS, N = 30, 4


def inference(source: Path, temperature: float) -> dict:
    return {"stage": "inference", "title": f"arith T={temperature}", "model": "smollm2-135m", "chunk_size": 10,
            # a short prompt and a short reply: prefill dominates the CPU cost of 30 x 4 samples
            "dataset": {"source": "arith", "path": str(source), "template": "plain",
                        "system_prompt": "Reply with only the number."},
            "backend": {"kind": "hf", "options": {"batch_size": 40}},
            "sampling": {"n": N, "temperature": temperature, "max_tokens": 12, "seed": 1},
            "then": [{"stage": "grading"}]}  # default workers: one grader process per core


def graded(home: Path, run_ids: list[str], timeout: float = 600) -> list[RunStore]:
    """Each inference spec has `then = [grading]`: a pipeline; its last step is the grading run."""
    from experiments.runs.lineage import chain

    for run_id in run_ids:
        assert api.wait(run_id, home, timeout=timeout) == "done", RunStore.open(run_id, home).manifest()
    return [chain(run_id, home)[-1] for run_id in run_ids]


def by_hand(store: RunStore) -> dict[int, list[bool]]:
    out: dict[int, list[bool]] = {}
    for r in store.records():
        out.setdefault(int(r["index"]), []).append(bool(r["correct"]))
    return out


def newest_curation(home: Path) -> RunStore:
    runs = [s for s in RunStore.list(home) if s.manifest().get("stage") == "curation"]
    assert runs and runs[0].effective_status() == "done", runs[0].manifest() if runs else "no curation run"
    return runs[0]


def cli(home: Path, *args: str) -> RunStore:
    assert main(["--home", str(home), *args, "--quiet"]) == 0
    return newest_curation(home)


@pytest.mark.timeout(900)  # ~90 s on an idle 2-core machine; a shared, loaded one needs the slack
def test_curation_end_to_end(home: Path, tmp_path: Path, embedded_model: str,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two inference workers side by side: one thread each, no thrash
    rows = [json.loads(line) for line in (Path("experiments/datasets/data/arith.jsonl")).open()][:QUESTIONS]
    source = tmp_path / "arith30.parquet"
    pd.DataFrame(rows).to_parquet(source, index=False)
    ids = [api.launch(inference(source, 0.0), home), api.launch(inference(source, 1.0), home)]
    weak, strong = graded(home, ids)
    assert (weak.outputs_dir / "verdicts.parquet").exists()
    logs = [json.loads(line).get("message", "") for line in weak.events_path.open()]
    assert f"{os.cpu_count()} grader processes" in logs
    weak_v, strong_v = by_hand(weak), by_hand(strong)
    assert len(weak_v) == len(strong_v) == QUESTIONS
    assert all(len(set(v)) == 1 for v in weak_v.values())  # greedy: the 4 samples agree

    # pass rates through a spec file, as the launch form would write it
    spec = tmp_path / "passrates.toml"
    spec.write_text(f'stage = "curation"\naction = "passrates"\nruns = ["{strong.run_id}"]\n')
    run = cli(home, "run", str(spec))
    mapping = json.loads((run.outputs_dir / "idx_to_passrate.json").read_text())
    assert mapping == {str(i): sum(v) / N for i, v in strong_v.items()}
    assert json.loads((strong.outputs_dir / "idx_to_passrate.json").read_text()) == mapping

    # buckets: both models side by side, with the combined mapping
    run = cli(home, "buckets", weak.run_id, strong.run_id, "--save-mapping")
    report = json.loads((run.outputs_dir / "buckets.json").read_text())
    strong_counts = report["datasets"][1]["counts"]
    expected = [0] * 7
    for v in strong_v.values():
        rate = sum(v) / N
        expected[0 if rate == 0 else 6 if rate == 1 else 1 + sum(rate >= e for e in (0.2, 0.4, 0.6, 0.8))] += 1
    assert [strong_counts[b] for b in BUCKETS] == expected and sum(expected) == QUESTIONS
    weak_counts = report["datasets"][0]["counts"]
    assert weak_counts["impossible"] + weak_counts["perfect"] == QUESTIONS
    assert (run.outputs_dir / "combined_passrates.json").exists()

    # filter the source parquet by the weak (low) and strong (high) pass rates
    out = tmp_path / "filtered.parquet"
    run = cli(home, "filter", "--weak", weak.run_id, "--strong", strong.run_id, "--source", str(source),
              "--low-thresh", "0", "--high-thresh", "0.75", "--out", str(out))
    kept = pd.read_parquet(out)
    want = [i for i in range(QUESTIONS) if sum(weak_v[i]) / N > 0 and sum(strong_v[i]) / N < 0.75]
    assert kept["question"].tolist() == [rows[i]["question"] for i in want]
    summary = json.loads((run.outputs_dir / "filter_summary.json").read_text())
    assert summary["kept"] == want and len(summary["dropped"]) == QUESTIONS - len(want)

    # mixed results, then critique data as verl rows
    run = cli(home, "mixed", "--weak", weak.run_id, "--strong", strong.run_id)
    mixed = pd.read_parquet(run.outputs_dir / "mixed.parquet")
    want_mixed = sorted(i for i in range(QUESTIONS) if 0 < sum(strong_v[i]) < N)  # greedy is never mixed
    assert sorted(mixed["index"].unique().tolist()) == want_mixed and len(mixed) == 2 * N * len(want_mixed)
    verl_path = tmp_path / "critique.parquet"
    run = cli(home, "critique", run.run_id, "--max-per-question", "4", "--seed", "3", "--out", str(verl_path))
    verl = pd.read_parquet(verl_path)
    assert list(verl.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    assert len(verl) == 4 * len(want_mixed)
    assert set(verl["ability"]) <= {"critique"}
    if len(verl):
        first = verl.iloc[0]
        assert first["prompt"][0]["role"] == "user" and "Conclusion: right [END]" in first["prompt"][0]["content"]
        assert first["reward_model"]["ground_truth"] in ("right", "wrong") and first["reward_model"]["style"] == "rule"
        info = first["extra_info"]
        row = mixed[(mixed["example_id"] == info["example_id"]) & (mixed["role"] == info["role"])
                    & (mixed["sample_idx"] == info["sample_idx"])].iloc[0]
        assert info["solution"] == row["response"] and info["question_ground_truth"] == row["gold"]
        assert first["reward_model"]["ground_truth"] == ("right" if row["correct"] else "wrong")
    targets = run.manifest()["summary"]["critique"]["targets"]
    assert targets["right"] + targets["wrong"] == len(verl)
    assert targets["right"] == sum(verl["reward_model"].map(lambda r: r["ground_truth"] == "right"))
