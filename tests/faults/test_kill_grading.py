"""Grading and judging killed -9 at five seeded event counts each, resumed after each kill: the same verdicts
as an uninterrupted run, every chunk computed once, no more judge requests re-sent than the stated bound."""

from __future__ import annotations

from pathlib import Path

from experiments.runs.store import RunStore
from experiments.specs import BackendSpec
from experiments.stages.grading.spec import GradingSpec
from experiments.stages.judging.spec import JudgingSpec
from tests.chat_server import ChatServer
from tests.faults.killer import compare, computed_once, plan_kills, reference_run, report, run_with_kills

SEED = 1903


def test_grading_survives_five_kills(fault_home: Path, answers: RunStore) -> None:
    spec = GradingSpec(input_run=answers.run_id, workers=1, timeout=20)
    reference = reference_run(spec, fault_home)
    assert {r["correct"] for r in reference.records()} == {True, False}, "a right/wrong mix"
    # grading is quick and its progress events are coalesced by time: kill points are its chunks (8), so the
    # kills land between and inside them rather than all at the start
    points = plan_kills(reference, fault_home, SEED, kind="chunk", share=1.0)
    run = run_with_kills(spec, fault_home, points, SEED, kind="chunk")
    assert run.landed >= 5, run.kills
    faulted = RunStore.open(run.run_id, fault_home)
    compared, lost = compare(reference, faulted, ("response", "correct", "extracted", "grade_status"))
    computed_once(run)
    assert faulted.manifest()["chunks_in_flight"] == 1, "the bound: a kill loses at most the chunk in flight"
    import pyarrow.parquet as pq

    verdicts = pq.read_table(faulted.outputs_dir / "verdicts.parquet").to_pylist()
    assert sorted((v["example_id"], v["correct"]) for v in verdicts) == \
        sorted((r["example_id"], r["correct"]) for r in reference.records())
    report("grading", run, compared, lost)


def test_judging_survives_five_kills(fault_home: Path, answers: RunStore, judge_server: ChatServer) -> None:
    spec = JudgingSpec(input_run=answers.run_id, model="judge", num_workers=2, max_tokens=64,
                       structured_output=False, max_chunks_in_flight=2,
                       backend=BackendSpec(kind="openai_compat", options={"base_url": judge_server.base_url}))
    reference = reference_run(spec, fault_home)
    asked_before = len(judge_server.received())
    assert {r["judge_status"] for r in reference.records()} == {"ok"}
    run = run_with_kills(spec, fault_home, plan_kills(reference, fault_home, SEED), SEED)
    assert run.landed >= 5, run.kills
    faulted = RunStore.open(run.run_id, fault_home)
    compared, lost = compare(reference, faulted, ("judge_correct", "judge_reasoning", "judge_model_answer",
                                                  "judge_status", "response"))
    computed_once(run)
    bound = faulted.manifest()["chunks_in_flight"]  # one record per chunk
    recomputed = len(judge_server.received()) - asked_before - compared
    assert 0 <= recomputed <= run.landed * bound, (recomputed, bound)
    report("judging", run, compared, lost, recomputed=recomputed, bound_per_kill=bound)
