"""CLI of the delegation stage: `delegate EVAL_RUN` (hand uncertain answers to a big model)."""

from __future__ import annotations

import argparse
from typing import Any

from experiments.cli.common import add_follow_args, engine_options, launch_and_follow


def parse_price(text: str) -> tuple[str, list[float]]:
    """`MODEL=IN,OUT` (USD per 1M tokens)."""
    model, _, pair = text.rpartition("=")
    try:
        values = [float(x) for x in pair.split(",")]
    except ValueError:
        values = []
    if not model or len(values) != 2:
        raise argparse.ArgumentTypeError(f"--price wants MODEL=IN,OUT (USD per 1M tokens), got {text!r}")
    return model, values


def delegation_spec(args: argparse.Namespace) -> Any:
    from experiments.specs import BackendSpec, SamplingSpec
    from experiments.stages.delegation.spec import DelegationSpec

    options = engine_options(args, "base_url", "api_key_env")
    return DelegationSpec(
        title=args.title or f"delegate {args.run} to {args.oracle_model or args.oracle_run}",
        input_run=args.run, oracle_model=args.oracle_model or "", oracle_run=args.oracle_run or "",
        oracle_backend=BackendSpec(kind=args.oracle_backend, options=options,
                                   server="local" if args.local else "none"),
        oracle_sampling=SamplingSpec(max_tokens=args.max_tokens), scope=args.scope, threshold=args.threshold,
        target_accuracy=args.target_accuracy, budget=args.budget, small_model=args.small_model,
        prices=dict(args.price or []))


def cmd_delegate(args: argparse.Namespace) -> int:
    from experiments.stages.evaluation.cli import print_tables

    def done(stores: list[Any]) -> None:
        from experiments.pricing import Price, describe

        print_tables(stores[-1], ("performance", "handoff"))
        prices = stores[-1].manifest().get("summary", {}).get("prices", {})
        print("\nprices: " + "; ".join(describe(Price(**p)) for p in prices.values()))

    return launch_and_follow(delegation_spec(args), args, done)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("delegate", help="hand an evaluation run's uncertain answers to a big model: "
                       "accuracy/cost table, hand-off breakdown, threshold sweep")
    p.add_argument("run", help="the evaluation run")
    p.add_argument("--oracle-model", default=None, help="the big model (served name, Bedrock id, alias)")
    p.add_argument("--oracle-backend", choices=["openai_compat", "bedrock", "hf", "vllm"], default="openai_compat")
    p.add_argument("--base-url", help="openai_compat endpoint of the big model")
    p.add_argument("--api-key-env", help="environment variable holding the API key")
    p.add_argument("--local", action="store_true", help="start a local vLLM server for the big model")
    p.add_argument("--oracle-run", default=None, help="reuse this run's answers of the big model")
    p.add_argument("--scope", choices=["all", "delegated"], default="all")
    p.add_argument("--threshold", type=float, default=None, help="also delegate P(confident) below this")
    p.add_argument("--target-accuracy", type=float, default=None)
    p.add_argument("--budget", type=float, default=None, help="USD over the test set")
    p.add_argument("--small-model", default=None, help="the small model's name in tables and prices")
    p.add_argument("--price", action="append", type=parse_price, metavar="MODEL=IN,OUT",
                   help="USD per 1M tokens (repeatable)")
    p.add_argument("--max-tokens", type=int, default=512, help="the big model's answer length")
    p.add_argument("--title", default="")
    add_follow_args(p)
    p.set_defaults(func=cmd_delegate)
