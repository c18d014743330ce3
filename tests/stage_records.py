"""Records exactly as the stages write them, for TUI and view tests: handwritten questions and model replies
go through the inference stage's `record_from`, then the real grading, tagging and judging `run` functions.

Only what would make fixtures slow is replaced: the grading pool grades in this process with the same
`grade()` its workers call (its forkserver takes seconds to start), and the judge model is a script of replies
(the judging stage's prompts, parsing, re-asks and records are real). Built once per session, copied per call.
"""

from __future__ import annotations

import copy
import functools
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from backends.base import GenerationResult
from experiments.datasets.base import Example
from experiments.grading import grade
from experiments.prompts import render_messages
from experiments.runs.context import StageContext
from experiments.runs.emit import Emitter
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, spec_to_toml
from experiments.stages import get_stage
from experiments.stages.grading.spec import GradingSpec
from experiments.stages.inference.run import record_from
from experiments.stages.inference.spec import InferenceSpec
from experiments.stages.judging.spec import JudgingSpec
from experiments.stages.tagging.spec import TaggingSpec

MODEL = "smollm2-135m"


def reply(i: int) -> tuple[str, str]:
    """(gold, model reply) of example i: right when i % 3 == 0, a wrong number when 1, no number at all when 2."""
    gold = str(2 * i)
    if i % 3 == 0:
        return gold, f"Adding {i} and {i} step by step gives {gold}.\n#### {gold}"
    if i % 3 == 1:
        return gold, f"Adding {i} and {i} step by step gives {2 * i + 1}.\n#### {2 * i + 1}"
    return gold, "I am not sure how to add these."


def judge_reply(i: int) -> str:
    """The scripted judge agrees with the grader on right and wrong answers and answers garbage otherwise."""
    if i % 3 == 2:
        return "I cannot decide."
    ok = i % 3 == 0
    return json.dumps({"correct_answer": str(2 * i), "model_answer": str(2 * i + (0 if ok else 1)),
                       "reasoning": "The final line matches the gold answer." if ok else
                       "The final line differs from the gold answer.", "correct": "yes" if ok else "no"})


def inference_records(n: int, domain: str = "gsm8k", model: str = MODEL) -> list[dict[str, Any]]:
    spec = InferenceSpec(model=model)
    records = []
    for i in range(n):
        gold, text = reply(i)
        example = Example(example_id=f"{domain}-test-{i:06d}", index=i, domain=domain, source=domain,
                          question=f"Question {i}: what is {i} plus {i}?", gold=gold)
        result = GenerationResult(key=i, sample_idx=0, text=text, finish_reason="stop", prompt_tokens=20 + i,
                                  completion_tokens=10 + i)
        records.append(record_from(example, result, spec, render_messages(example)))
    return records


class InProcessPool:
    """`GradingPool`'s interface, grading here with the same `grade()` the pool's workers call."""

    def __init__(self, workers: int = 1, timeout: float = 5.0) -> None:
        pass

    def __enter__(self) -> InProcessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def grade_all(self, items: list[Any]) -> Iterator[Any]:
        for item in items:
            yield grade(item.domain, item.response, item.gold, **item.context)


class ScriptedJudge:
    """A judge model that replies from `judge_reply` by example index (the request key names the record)."""

    def generate(self, requests: Any, params: Any) -> Iterator[GenerationResult]:
        for request in requests:
            example_id = request.key[1].split("#")[0]
            yield GenerationResult(key=request.key, sample_idx=0, text=judge_reply(int(example_id[-6:])),
                                   finish_reason="stop", prompt_tokens=50, completion_tokens=20)

    def describe(self) -> str:
        return "scripted judge"

    def close(self) -> None:
        pass


def run_stage(home: Path, spec: Any, run_id: str, finalize: bool = False) -> tuple[RunStore, dict[str, Any]]:
    """Run a stage's real `run` (and `finalize`) in this process over a run folder, as a worker would."""
    store = RunStore.create(spec_to_toml(spec), spec.stage, home, run_id=run_id)
    ctx = StageContext(store=store, emit=Emitter(store.events_path, run_id), home=home)
    stage = get_stage(spec.stage)
    stage.runner()(spec, ctx)
    finalizer = stage.finalizer()
    summary = finalizer(spec, ctx) if finalize and finalizer else {}
    ctx.emit.flush()
    return store, summary


@functools.cache
def _outputs(n: int, domain: str, model: str) -> dict[str, Any]:
    from experiments.stages.grading import run as grading_run
    from experiments.stages.judging.run import Judge

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        source = RunStore.create(spec_to_toml(InferenceSpec(model=model)), "inference", home, run_id="inference")
        records = inference_records(n, domain, model)
        for index in range(0, n, 4):
            source.write_chunk(index // 4, records[index:index + 4])
        with mock.patch.object(grading_run, "GradingPool", InProcessPool):
            graded, grading_summary = run_stage(home, GradingSpec(input_run="inference"), "grading", True)
        tagged, _ = run_stage(home, TaggingSpec(input_run="grading"), "tagging")
        judging = JudgingSpec(input_run="inference", model="scripted-judge", parse_retries=1,
                              backend=BackendSpec(kind="openai_compat"))
        with mock.patch.object(Judge, "generator", lambda self, structured: ScriptedJudge()):
            judged, _ = run_stage(home, judging, "judging")
        return {"inference": records, "graded": graded.records(), "tagged": tagged.records(),
                "judged": judged.records(), "judge_errors": judged.errors(), "grading_summary": grading_summary}


def stage_records(kind: str, n: int = 6, domain: str = "gsm8k", model: str = MODEL) -> list[dict[str, Any]]:
    """`inference`, `graded`, `tagged` or `judged` records of n examples (a fresh copy: tests may edit it)."""
    return copy.deepcopy(_outputs(n, domain, model)[kind])


def stage_output(kind: str, n: int = 6, domain: str = "gsm8k", model: str = MODEL) -> Any:
    """`grading_summary` or `judge_errors` of the same runs."""
    return copy.deepcopy(_outputs(n, domain, model)[kind])
