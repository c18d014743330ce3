"""CLI commands for verdicts and training data: `judge`, `tag`, `agreement` and `sft-data`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _home(args: argparse.Namespace) -> Path:
    from experiments import locations

    return locations.home(getattr(args, "home", None))


def _launch_and_follow(spec: Any, args: argparse.Namespace, on_done: Any) -> int:
    from experiments import jobs
    from experiments.cli import follow_chain

    run_id = jobs.launch(spec, _home(args))
    print(f"launched {run_id}")
    if args.detach:
        return 0
    return follow_chain(run_id, args, on_done)


def judging_spec(args: argparse.Namespace) -> Any:
    from experiments.specs import BackendSpec, JudgingSpec

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
    from experiments.store import RunStore

    spec = judging_spec(args)
    RunStore.open(args.run, _home(args))  # fail here, not in the worker, when the input run doesn't exist
    return _launch_and_follow(spec, args, lambda stores: print_judge_summary(stores[-1].manifest()))


def print_judge_summary(manifest: dict[str, Any]) -> None:
    from experiments.stages.report import format_accuracy, format_agreement

    summary = manifest.get("summary", {})
    print("\njudge verdicts: " + json.dumps(summary.get("statuses", {})))
    usage = summary.get("usage", {})
    price = summary.get("price", {})
    cost = f"${usage.get('cost_usd', 0):.4f}" if price.get("source") != "unknown" else "$0 (no price known)"
    print(f"usage: {usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} completion "
          f"tokens, {cost}")
    if summary.get("accuracy"):
        print("\naccuracy by the judge\n" + format_accuracy(summary["accuracy"]))
    if summary.get("agreement"):
        print("\n" + format_agreement(summary["agreement"]))


def cmd_tag(args: argparse.Namespace) -> int:
    from experiments.specs import TaggingSpec
    from experiments.stages.report import format_accuracy
    from experiments.store import RunStore

    RunStore.open(args.run, _home(args))
    spec = TaggingSpec(input_run=args.run, style=args.style, verdict=args.verdict,
                       incorrect_ratio=args.incorrect_ratio, seed=args.seed, title=f"tag {args.run}")

    def done(stores: list[Any]) -> None:
        summary = stores[-1].manifest().get("summary", {})
        print("\ntokens: " + json.dumps(summary.get("tokens", {})))
        if summary.get("subsample"):
            print("subsample: " + json.dumps(summary["subsample"]))
        print("\n" + format_accuracy(summary.get("accuracy", [])))
        print(f"outputs: {stores[-1].outputs_dir}")

    return _launch_and_follow(spec, args, done)


def cmd_agreement(args: argparse.Namespace) -> int:
    from experiments.stages.report import agreement_table, format_agreement
    from experiments.store import RunStore

    store = RunStore.open(args.run, _home(args))
    records = store.records()
    if not any("judge_correct" in r for r in records):
        raise ValueError(f"run {store.run_id} has no judge verdicts (run `confconsole judge` on it first)")
    if not any(r.get("correct") is not None for r in records):
        raise ValueError(f"run {store.run_id} has no rule verdicts to compare with (judge a graded run)")
    table = agreement_table(records)
    print(json.dumps(table, indent=2) if args.json else format_agreement(table))
    return 0


def cmd_sft_data(args: argparse.Namespace) -> int:
    from experiments.sft_data import build_sft_dataset
    from experiments.store import RunStore

    stores = [RunStore.open(run, _home(args)) for run in args.runs]
    summary = build_sft_dataset(stores, Path(args.out), args.format)
    print(json.dumps(summary, indent=2))
    return 0


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
    judge.add_argument("--detach", action="store_true")
    judge.add_argument("--quiet", action="store_true")
    judge.set_defaults(func=cmd_judge)
    tag = sub.add_parser("tag", help="confidence-tag a graded or judged run")
    tag.add_argument("run")
    tag.add_argument("--style", choices=["angle", "pipe"], default="angle")
    tag.add_argument("--verdict", choices=["auto", "rule", "judge"], default="auto")
    tag.add_argument("--incorrect-ratio", type=float, default=None,
                     help="keep at most R incorrect examples per correct one")
    tag.add_argument("--seed", type=int, default=0)
    tag.add_argument("--detach", action="store_true")
    tag.add_argument("--quiet", action="store_true")
    tag.set_defaults(func=cmd_tag)
    agreement = sub.add_parser("agreement", help="judge-vs-rule agreement table of a judging run")
    agreement.add_argument("run")
    agreement.add_argument("--json", action="store_true")
    agreement.set_defaults(func=cmd_agreement)
    sft = sub.add_parser("sft-data", help="combined SFT dataset (prompt -> tagged response) of tagging runs")
    sft.add_argument("runs", nargs="+")
    sft.add_argument("--out", required=True, help="a .jsonl or .parquet file")
    sft.add_argument("--format", choices=["jsonl", "parquet"], default=None,
                     help="default: from --out's suffix")
    sft.set_defaults(func=cmd_sft_data)
