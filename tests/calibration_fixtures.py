"""The reference's 500 MATH answers as runs: an evaluation run of the small model and an inference run of the big one.

345 confident answers (298 right), 143 uncertain and 12 missing (155 delegated); the big model answers the 155
delegated questions, 121 of them right (its answers are real text the grader reads). Token counts are chosen so
that with PRICES the small model's kept answers cost $0.01 and the big model's delegated ones $1.23.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.runs.store import RunStore
from experiments.specs import spec_to_toml
from experiments.stages import STAGES
from experiments.stages.evaluation.spec import EvaluationSpec
from experiments.stages.inference.spec import InferenceSpec

SMALL, BIG = "slm-1.5b", "llm-big"
PRICES = {SMALL: [0.0, 1.0], BIG: [0.0, 10.0]}  # USD per 1M output tokens: 10,000 and 123,000 tokens
EVAL_RUN, ORACLE_RUN = "evaluation-20260101-000000-ref0", "inference-20260101-000000-big0"


def reference_records(graded: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(small model's evaluation records, big model's records for the delegated questions: an inference run's,
    or with `graded` a grading run's, which delegation reuses without grading again)."""
    small, big = [], []
    for i in range(500):
        gold = str(i % 97 + 3)
        if i < 345:
            kind, right, p = "confident", i < 298, 0.9 - (i % 7) / 100
        elif i < 488:
            kind, right, p = "uncertain", i < 345 + 30, 0.2 + (i % 5) / 100
        else:
            kind, right, p = "missing", False, None
        token = {"confident": "<CN_MATH>", "uncertain": "<UN_MATH>", "missing": None}[kind]
        answer = gold if right else str(int(gold) + 1)
        small.append({
            "example_id": f"math-test-{i:06d}", "sample_idx": 0, "index": i, "domain": "gsm8k", "source": "math",
            "question": f"Q{i}: what is {gold}?", "prompt": f"Q{i}: what is {gold}?", "gold": gold, "model": SMALL,
            "response": f"The answer is {answer}." + (f" {token}" if token else ""), "correct": right,
            "confidence_token": token, "confident": {"confident": True, "uncertain": False}.get(kind),
            "p_confident": p, "prompt_tokens": 0,
            "completion_tokens": (29 if i < 340 else 28) if i < 345 else 30})
        if i >= 345:
            j = i - 345
            big.append({
                "example_id": f"math-test-{i:06d}", "sample_idx": 0, "index": i, "domain": "gsm8k",
                "source": "math", "question": small[-1]["question"], "prompt": small[-1]["prompt"], "gold": gold,
                "model": BIG, "response": f"Step by step... the answer is {gold if j < 121 else int(gold) + 2}.",
                "finish_reason": "stop", "prompt_tokens": 0, "completion_tokens": 794 if j < 85 else 793,
                **({"correct": j < 121} if graded else {})})
    return small, big


def write_run(home: Path, run_id: str, stage: str, spec: Any, records: list[dict[str, Any]],
              chunk_size: int = 100) -> RunStore:
    store = RunStore.create(spec_to_toml(spec), stage, home, run_id=run_id)
    for index in range(0, len(records), chunk_size):
        store.write_chunk(index // chunk_size, records[index:index + chunk_size])
    store.update_manifest(status="done", counts={"records": len(records)})
    return store


def reference_runs(home: Path, graded: bool = False) -> tuple[RunStore, RunStore]:
    small, big = reference_records(graded)
    return (write_run(home, EVAL_RUN, "evaluation", EvaluationSpec(model=SMALL), small),
            write_run(home, ORACLE_RUN, "inference", InferenceSpec(model=BIG), big, chunk_size=40))


def finalized_reference(home: Path) -> tuple[RunStore, RunStore]:
    """The reference runs, the evaluation finalized (summary, calibration.json) and a delegation run over them
    computed in this process (the worker's own entry point, no subprocess): (evaluation, delegation)."""
    from experiments.runs.context import StageContext
    from experiments.runs.emit import Emitter
    from experiments.runs.worker import finalize, run_worker
    from experiments.stages import spec_from_toml
    from experiments.stages.delegation.spec import DelegationSpec

    evaluation, oracle = reference_runs(home, graded=True)
    ctx = StageContext(store=evaluation, emit=Emitter(evaluation.events_path, evaluation.run_id), home=home)
    finalize(spec_from_toml(evaluation.spec_text()), ctx, STAGES)
    spec = DelegationSpec(input_run=evaluation.run_id, oracle_run=oracle.run_id, oracle_model=BIG, scope="delegated",
                          prices=PRICES, target_accuracy=0.8, title="reference delegation")
    store = RunStore.create(spec_to_toml(spec), "delegation", home, run_id="delegation-20260101-000000-ref1")
    assert run_worker(store.dir, STAGES, home=home) == 0, store.manifest().get("error")
    return evaluation, store
