"""The stage registry: one line per stage. Everything else (CLI, `parse_spec`, the TUI's Launch form) reads it.

A stage is a package `experiments/stages/<name>/` with `spec.py` (its pydantic spec; light imports only),
`run.py` (`run(spec, ctx)` and optional `finalize(spec, ctx) -> summary`), optional `cli.py` (`register(sub)`)
and optional `views.py` (plain-Python view models). Entries hold import paths only: naming a stage imports nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Stage:
    name: str
    spec: str  # class name in <package>.spec
    help: str
    cli: bool = False
    views: bool = False
    needs_input: bool = True  # reads another run's records (input_run)

    @property
    def package(self) -> str:
        return f"experiments.stages.{self.name}"

    def module(self, part: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.{part}")

    def spec_model(self) -> Any:
        return getattr(self.module("spec"), self.spec)

    def runner(self) -> Callable[..., Any]:
        return self.module("run").run

    def finalizer(self) -> Callable[..., Any] | None:
        """Optional `finalize(spec, ctx)`: runs once, after every chunk of every worker is done."""
        return getattr(self.module("run"), "finalize", None)

    def register_cli(self, sub: Any) -> None:
        """Add the stage's commands. An import error here must fail loudly, never drop the commands."""
        if self.cli:
            self.module("cli").register(sub)

    def view_module(self) -> ModuleType | None:
        return self.module("views") if self.views else None


STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("inference", "InferenceSpec", "generate answers with a model over a dataset", cli=True, needs_input=False),
    Stage("grading", "GradingSpec", "grade an inference run's answers by rule (hang-proof pool)", cli=True),
    Stage("judging", "JudgingSpec", "LLM-judge an inference run: JSON verdicts, usage, cost", cli=True),
    Stage("tagging", "TaggingSpec", "confidence-tag a graded or judged run (<CN_..>/<UN_..>)", cli=True),
    Stage("evaluation", "EvaluationSpec", "confidence-token calibration: accuracy, AUROC, ECE, Brier, reliability",
          cli=True, views=True, needs_input=False),
    Stage("delegation", "DelegationSpec", "hand uncertain answers to a big model: accuracy/cost and threshold sweep",
          cli=True, views=True),
    Stage("guided", "GuidedSpec", "guided decoding: a small base model with a big oracle at points a policy picks",
          cli=True, views=True, needs_input=False),
    Stage("sft", "SFTSpec", "LoRA-fine-tune a small model to append its confidence token", cli=True, views=True,
          needs_input=False),
    Stage("curation", "CurationSpec", "pass rates, buckets, weak/strong filter, mixed, critique/verl, sampling",
          cli=True, views=True, needs_input=False),
)}


def get_stage(name: str) -> Stage:
    try:
        return STAGES[name]
    except KeyError:
        raise ValueError(f"unknown stage {name!r}; known: {', '.join(STAGES)}") from None


def stage_runner(stage: str) -> Callable[..., Any]:
    return get_stage(stage).runner()


def stage_finalizer(stage: str) -> Callable[..., Any] | None:
    return get_stage(stage).finalizer()
