"""The stage registry: one line per stage. Everything else (CLI, spec parsing, the TUI's Launch form) reads it.

A stage is a package `experiments/stages/<name>/` with `spec.py` (its pydantic spec; light imports only),
`run.py` (`run(spec, ctx)` and optional `finalize(spec, ctx) -> summary`), optional `cli.py` (`register(sub)`)
and optional `views.py` (plain-Python view models). Entries hold import paths only: naming a stage imports nothing.
The run kernel (`experiments.runs`) never imports this package: launchers hand `STAGES` to it.
"""

from __future__ import annotations

from typing import Any

from experiments.runs.registry import Registry, Stage

STAGES = Registry((
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
), package=__name__, path=f"{__name__}:STAGES", on_complete="experiments.views.records_index:index_complete_run")



def get_stage(name: str) -> Stage:
    return STAGES.get(name)


def parse_spec(data: Any) -> Any:
    """Validate a spec dict (any stage, or a pipeline of them) with this registry."""
    return STAGES.parse(data)


def spec_from_toml(text: str) -> Any:
    return STAGES.from_toml(text)
