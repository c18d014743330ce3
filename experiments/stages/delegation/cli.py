"""CLI of the delegation stage: `delegate EVAL_RUN` (hand uncertain answers to a big model)."""

from __future__ import annotations

import argparse
from typing import Any

from experiments.cli.common import stage_command
from experiments.cli.spec_args import Extra, engine_extras, setter


def delegation_done(stores: list[Any]) -> None:
    from experiments.pricing import Price, describe
    from experiments.stages.evaluation.cli import print_tables

    print_tables(stores[-1], ("performance", "handoff"))
    prices = stores[-1].manifest().get("summary", {}).get("prices", {})
    print("\nprices: " + "; ".join(describe(Price(**p)) for p in prices.values()))


def title(data: dict[str, Any]) -> str:
    return f"delegate {data.get('input_run')} to {data.get('oracle_model') or data.get('oracle_run')}"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    stage_command(
        sub, "delegate", "delegation", help="hand an evaluation run's uncertain answers to a big model: accuracy vs "
        "cost",
        description="Answers the small model marked uncertain (or gave no token, or a low P(confident) with "
        "--threshold) go to a big model through any engine; both are graded and priced, and a sweep over every "
        "delegation rate shows accuracy against cost.",
        positional={"input_run": {"metavar": "EVAL_RUN"}},
        aliases={"oracle_sampling.max_tokens": ("--max-tokens",), "prices": ("--price",)},
        extras=(*engine_extras("oracle_backend", names=("base-url", "api-key-env")),
                Extra(("--local",), "oracle_backend.server", "start a local vLLM server for the big model",
                      setter("oracle_backend.server", "local"), {"action": "store_true"})),
        title=title, on_done=delegation_done)
