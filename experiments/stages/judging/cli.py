"""CLI commands of the judging stage: `judge` and `agreement`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from experiments.cli.common import add_follow_args, home_of, launch_and_follow
from experiments.textsafe import inert


def judging_spec(args: argparse.Namespace) -> Any:
    from experiments.specs import BackendSpec
    from experiments.stages.judging.spec import JudgingSpec

    if not args.local and not args.base_url:
        raise ValueError("judge needs --base-url URL (an OpenAI-compatible server) "
                         "or --local (start a vLLM server)")
    options: dict[str, Any] = {}
    if args.base_url:
        options["base_url"] = args.base_url
    if args.api_key_env:
        options["api_key_env"] = args.api_key_env
    backend = BackendSpec(kind="openai_compat", options=options, server="local" if args.local else "none")
    prices = {args.model: list(args.price)} if args.price else {}
    return JudgingSpec(input_run=args.run, model=args.model, backend=backend, num_workers=args.workers,
                       max_tokens=args.max_tokens, parse_retries=args.parse_retries,
                       structured_output=not args.no_structured, prices=prices,
                       title=f"judge {args.run} with {args.model}")


def cmd_judge(args: argparse.Namespace) -> int:
    from experiments.runs.store import RunStore

    spec = judging_spec(args)
    RunStore.open(args.run, home_of(args))  # fail here, not in the worker, when the input run doesn't exist
    return launch_and_follow(spec, args, lambda stores: print_judge_summary(stores[-1].manifest()))


def print_judge_summary(manifest: dict[str, Any]) -> None:
    from experiments.report.accuracy import format_accuracy
    from experiments.stages.judging.agreement import format_agreement

    summary = manifest.get("summary", {})
    print("\njudge verdicts: " + json.dumps(summary.get("statuses", {})))
    usage = summary.get("usage", {})
    price = summary.get("price", {})
    cost = f"${usage.get('cost_usd', 0):.4f}" if price.get("source") != "unknown" else "$0 (no price known)"
    print(f"usage: {usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} completion "
          f"tokens, {cost}")
    if summary.get("accuracy"):
        print("\naccuracy by the judge\n" + inert(format_accuracy(summary["accuracy"])))
    if summary.get("agreement"):
        print("\n" + inert(format_agreement(summary["agreement"])))


def cmd_agreement(args: argparse.Namespace) -> int:
    from experiments.runs.store import RunStore
    from experiments.stages.judging.agreement import format_any_agreement

    store = RunStore.open(args.run, home_of(args))
    table = run_agreement(store)
    print(json.dumps(table, indent=2) if args.json else inert(format_any_agreement(table)))
    return 0


def run_agreement(store: Any) -> dict[str, Any]:
    """Agreement of a run's verdicts, read through its records index (any size) with the reviews that apply."""
    from experiments.reviews.lineage import lineage_reviews
    from experiments.stages.judging.agreement import view_agreement
    from experiments.views.records_index import RecordsIndex
    from experiments.views.records_query import RecordsView

    return view_agreement(RecordsView(RecordsIndex.open(store), lineage_reviews(store)), store.run_id)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    judge = sub.add_parser("judge", help="LLM-judge an inference or graded run (JSON verdicts, usage, cost)")
    judge.add_argument("run")
    judge.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    judge.add_argument("--model", default="smollm2-135m", help="judge model (the served name)")
    judge.add_argument("--api-key-env", help="environment variable holding the API key (never the key)")
    judge.add_argument("--workers", type=int, default=8, help="concurrent judge requests")
    judge.add_argument("--local", action="store_true", help="start a managed local vLLM server for --model")
    judge.add_argument("--max-tokens", type=int, default=512)
    judge.add_argument("--parse-retries", type=int, default=2)
    judge.add_argument("--no-structured", action="store_true", help="don't send a JSON schema")
    judge.add_argument("--price", type=float, nargs=2, metavar=("IN", "OUT"), help="$ per 1M tokens")
    add_follow_args(judge)
    judge.set_defaults(func=cmd_judge)
    agreement = sub.add_parser("agreement", help="agreement of a run's rule, judge and human verdicts (counts, "
                               "Cohen's kappa, confusion matrices)")
    agreement.add_argument("run")
    agreement.add_argument("--json", action="store_true")
    agreement.set_defaults(func=cmd_agreement)
