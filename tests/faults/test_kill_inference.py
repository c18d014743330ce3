"""Inference killed -9 at five seeded event counts in one run, resumed after each: the same records as an
uninterrupted run, and no more requests re-sent than the manifest's bound on work in flight."""

from __future__ import annotations

from pathlib import Path

from experiments.runs.store import RunStore
from tests.chat_server import ChatServer
from tests.faults.conftest import scripted_inference
from tests.faults.killer import compare, computed_once, plan_kills, report, run_with_kills

SEED = 1902


def test_inference_survives_five_kills(fault_home: Path, answer_server: ChatServer, answers: RunStore) -> None:
    spec = scripted_inference(answer_server)
    asked_before = len(answer_server.received())
    run = run_with_kills(spec, fault_home, plan_kills(answers, fault_home, SEED), SEED)
    assert run.landed >= 5, run.kills
    faulted = RunStore.open(run.run_id, fault_home)
    compared, lost = compare(answers, faulted, ("response", "finish_reason", "prompt", "gold", "model"))
    computed_once(run)
    manifest = faulted.manifest()
    bound = manifest["chunks_in_flight"] * spec.chunk_size * spec.sampling.n
    recomputed = len(answer_server.received()) - asked_before - compared
    assert 0 <= recomputed <= run.landed * bound, (recomputed, bound)
    assert manifest["counts"]["records"] == compared == 8 and manifest["resumed"] == run.resumes
    report("inference", run, compared, lost, recomputed=recomputed, bound_per_kill=bound)
