"""The demo pipeline (inference on the embedded model -> grading -> tagging, 3 questions x 2 samples, greedy)
killed -9 at five seeded event counts over the pipeline and its steps, resumed after each: every step's records
equal an uninterrupted pipeline's, with no step run made twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.demo import demo_spec
from experiments.runs.store import RunStore
from tests.faults.killer import compare, computed_once, plan_kills, reference_run, report, run_with_kills

SEED = 1907
FIELDS = {"inference": ("response", "finish_reason", "completion_tokens"),
          "grading": ("response", "correct", "extracted"),
          "tagging": ("correct", "confidence_token", "tagged_response")}


def steps(pipeline: RunStore, home: Path) -> dict[str, RunStore]:
    manifest = pipeline.manifest()
    return {name: RunStore.open(manifest["steps"][name]["run_id"], home) for name in manifest["step_order"]}


def test_pipeline_survives_five_kills(fault_home: Path, embedded_model: str, one_torch_thread: None,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = demo_spec(limit=3, max_tokens=6, batch_size=1, chunk_size=1, n=2)
    spec.then = [{"stage": "grading", "workers": 1}, {"stage": "tagging"}]
    reference = reference_run(spec, fault_home)
    # kill points are chunks over the steps (3 inference, 3 grading, 3 tagging): kills land in every step
    points = plan_kills(reference, fault_home, SEED, kind="chunk", share=1.0)
    run = run_with_kills(spec, fault_home, points, SEED, kind="chunk")
    assert run.landed >= 5, run.kills
    faulted = RunStore.open(run.run_id, fault_home)
    want, got = steps(reference, fault_home), steps(faulted, fault_home)
    assert list(got) == ["inference", "grading", "tagging"]
    compared = lost = 0
    for name, store in got.items():
        n, missing = compare(want[name], store, FIELDS[name])
        compared, lost = compared + n, lost + missing
        assert store.effective_status() == "done" and store.manifest()["pipeline"] == faulted.run_id
        # the stated bound on work a kill loses: inference feeds at least 2 chunks at a time, the others 1
        assert store.manifest()["chunks_in_flight"] == (2 if name == "inference" else 1)
    computed_once(run)
    made = [RunStore.open(r, fault_home) for r in run.watch.tails if r != faulted.run_id]
    assert len(made) == 3, "a resumed pipeline finds its steps' runs; it never makes one again"
    assert (got["tagging"].outputs_dir / "tagged.parquet").exists()
    killed_in = run_steps_killed(run, faulted, fault_home)
    assert {"inference", "grading", "tagging"} <= killed_in, killed_in
    report("pipeline", run, compared, lost, steps_killed_in=sorted(killed_in))


def run_steps_killed(run, pipeline: RunStore, home: Path) -> set[str]:  # noqa: ANN001
    """The steps that show a recovered lock (a worker died while running them), plus the pipeline's own."""
    found = set()
    for name, store in {"pipeline": pipeline, **steps(pipeline, home)}.items():
        if "recovered the lock of a dead writer" in store.events_path.read_text():
            found.add(name)
    return found
