"""CLI command of the inference stage: `infer`, its flags generated from `InferenceSpec`."""

from __future__ import annotations

import argparse
from typing import Any

from experiments.cli.common import stage_command
from experiments.cli.spec_args import Extra, engine_extras


def then_steps(*stages: str) -> Any:
    """An `Extra.apply` that appends these stages to `then` (once each)."""
    def apply(data: dict[str, Any], value: Any) -> None:
        steps = data.setdefault("then", [])
        for stage in stages:
            if not any(s.get("stage") == stage for s in steps):
                steps.append({"stage": stage})
    return apply


def title(data: dict[str, Any]) -> str:
    dataset = data.get("dataset", {})
    return f"{dataset.get('source', 'gsm8k')} x{dataset.get('limit') or 'all'} on {data.get('model', 'smollm2-135m')}"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    stage_command(
        sub, "infer", "inference", help="generate answers with a model over a dataset (an inference run)",
        description="Generate answers with a model over a dataset. Every option is a field of the inference "
        "spec (`confconsole run spec.toml` takes the same fields); nested fields say their spec key.",
        title=title, extras=(*engine_extras(),
                             Extra(("--grade",), "then", "then grade the answers (as --then grading)",
                                   then_steps("grading"), {"action": "store_true"}),
                             Extra(("--tag",), "then", "then grade and tag them (as --then grading tagging)",
                                   then_steps("grading", "tagging"), {"action": "store_true"})))
