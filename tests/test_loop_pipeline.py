"""The confidence loop as one pipeline on the embedded model, small: inference -> grading -> tagging -> SFT ->
evaluation on a calibration split (it chooses the threshold on P(confident)) -> evaluation on held-out questions
with that threshold -> delegation (the embedded model as its own oracle, through hf). The pipeline's
worker is killed with -9 in the SFT step (after a checkpoint); `resume` finishes only what is missing: every step
done, SFT continued from its checkpoint, no record duplicated, no step run made twice; then the report."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from experiments import api
from experiments.demo import loop_spec
from experiments.runs.lineage import chain
from experiments.runs.store import RunStore

pytestmark = pytest.mark.slow


def wait_until(condition, timeout: float = 300, what: str = "") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def step_run(pipeline: RunStore, name: str) -> RunStore | None:
    run_id = ((pipeline.manifest().get("steps") or {}).get(name) or {}).get("run_id")
    return RunStore(pipeline.dir.parent / run_id) if run_id else None


def small_loop() -> dict:
    spec = loop_spec(train=12, heldout=6, sft_steps=8, batch_size=12, calib=4)
    steps = {s["name"]: s for s in spec["steps"]}
    steps["infer"].update(chunk_size=4, sampling={"max_tokens": 12})
    steps["tag"].pop("incorrect_ratio")  # 12 short answers may hold one right one or none: keep them all
    steps["sft"].update(save_steps=4, batch_size=4, max_length=96)
    steps["calib"].update(chunk_size=3, sampling={"max_tokens": 16})
    steps["eval"].update(chunk_size=3, sampling={"max_tokens": 16})
    steps["delegate"]["oracle_sampling"] = {"max_tokens": 12}
    return spec


def test_loop_pipeline_killed_in_sft_resumes_to_the_end(home: Path, embedded_model: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one torch thread per worker on a shared 2-core box
    pipeline = RunStore.open(api.launch(small_loop(), home), home)
    wait_until(lambda: (sft := step_run(pipeline, "sft")) is not None
               and (sft.dir / "checkpoints" / "checkpoint-4" / ".complete").exists(), 600, "an SFT checkpoint")
    worker = pipeline.manifest()["pids"][0]
    sft = step_run(pipeline, "sft")
    assert sft is not None and sft.manifest()["pids"] == [worker]  # the step runs inside the pipeline's worker
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: pipeline.effective_status() == "interrupted", 30, "the pipeline to read interrupted")
    assert sft.effective_status() == "interrupted" and not sft.chunk_done(0)
    before = {s.run_id for s in RunStore.list(home)}

    api.resume(pipeline.run_id, home)
    assert api.wait(pipeline.run_id, home, timeout=900) == "done", pipeline.manifest().get("error")
    steps = pipeline.manifest()["steps"]
    names = ("infer", "grade", "tag", "sft", "calib", "eval", "delegate")
    assert [steps[n]["status"] for n in names] == ["done"] * 7
    made = {s.run_id for s in RunStore.list(home)} - before
    assert made == {steps[n]["run_id"] for n in ("calib", "eval", "delegate")}, "no step's run was made twice"
    logs = [json.loads(line).get("message", "") for line in sft.events_path.read_text().splitlines()]
    assert any("resuming from" in m and "checkpoint-4" in m for m in logs), "SFT went on from its checkpoint"

    stores = chain(pipeline.run_id, home)
    assert [s.manifest()["stage"] for s in stores] == ["inference", "grading", "tagging", "sft", "evaluation",
                                                         "evaluation", "delegation"]
    for store in stores:
        keys = [(r["example_id"], r.get("sample_idx", 0)) for r in store.records()]
        assert len(keys) == len(set(keys)), f"{store.run_id} has a duplicated record"
    infer, calib, evaluation, delegation = stores[0], stores[4], stores[5], stores[6]
    assert len(infer.records()) == 12 and len(calib.records()) == 4 and len(evaluation.records()) == 6
    trained = {r["example_id"] for r in infer.records()}
    calibrated_on = {r["example_id"] for r in calib.records()}
    held_out = {r["example_id"] for r in evaluation.records()}
    assert not trained & held_out and not trained & calibrated_on and not calibrated_on & held_out, "three splits"
    # lineage: the calibration step reads the adapter's SFT run; the held-out one also the calibration step's run
    assert calib.manifest()["inputs"] == [stores[3].run_id]
    assert sorted(evaluation.manifest()["inputs"]) == sorted([stores[3].run_id, calib.run_id])
    summary = evaluation.manifest()["summary"]
    assert summary["scored"] == summary["n"] == 6  # P(confident) for every answer (scoring pass with the adapter)
    assert calib.manifest()["summary"]["scored"] == 4 and "threshold" not in calib.manifest()["summary"]
    assert 0.0 <= summary["threshold"] <= 1.0 and summary["threshold_source"] == calib.run_id
    assert summary["calibration_accuracy_at_threshold"] is not None and summary["threshold_overlap"] == 0
    assert all("confident_at_threshold" in r for r in evaluation.records())
    assert delegation.manifest()["summary"]["handoff"][-1]["total"] == 6
    assert delegation.manifest()["summary"]["threshold_source"] == evaluation.run_id

    from experiments.demo_report import loop_figures, loop_text

    printed = loop_text(loop_figures(pipeline, home))
    assert "calibration accuracy of the written tokens" in printed
    assert "(t chosen on arith rows 240-243, none of them held out)" in printed, printed

    from experiments.report.build import build_report
    from experiments.report.render import write_report

    written = write_report(build_report(pipeline, home), tmp_path / "report.md")
    text = written[0].read_text()
    assert all(f"run {s.run_id}" in text for s in stores) and "Calibration metrics" in text
    assert any(p.suffix == ".png" for p in written)  # the plots (reliability, loss curve, ...)
    html = write_report(build_report(pipeline, home), tmp_path / "report.html")[0].read_text()
    assert "data:image/png;base64," in html and "Steps" in html
