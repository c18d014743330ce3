"""CLI commands of the judging stage: `judge` and `agreement`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from experiments.cli.commands import add_command
from experiments.cli.common import home_of, stage_command
from experiments.cli.spec_args import Extra, engine_extras, setter
from experiments.textsafe import inert


def prepare_judge(data: dict[str, Any], args: argparse.Namespace) -> None:
    """A judge needs a server: an endpoint (--base-url) or one the run starts (--local); fail here, not in the
    worker, when the input run does not exist."""
    from experiments.runs.store import RunStore

    backend = data.get("backend") or {}
    if backend.get("server") != "local" and not (backend.get("options") or {}).get("base_url"):
        raise ValueError("judge needs --base-url URL (an OpenAI-compatible server) or --local (start a vLLM "
                         "server)")
    RunStore.open(str(data.get("input_run", "")), home_of(args))


def set_price(data: dict[str, Any], value: Any) -> None:
    data.setdefault("prices", {})[data.get("model", "smollm2-135m")] = list(value)


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
    stage_command(
        sub, "judge", "judging", help="LLM-judge an inference or graded run (JSON verdicts, usage, cost)",
        description="Ask a judge model, through an OpenAI-compatible server, whether each answer matches the "
        "gold answer: JSON verdicts with reasoning, token usage and cost. --base-url names a running server; "
        "--local starts a vLLM server for --model.",
        positional={"input_run": {"metavar": "RUN"}}, aliases={"num_workers": ("--workers",),
                                                               "structured_output": ("--structured",)},
        extras=(*engine_extras(names=("base-url", "api-key-env")),
                Extra(("--local",), "backend.server", "start a managed local vLLM server for --model (as "
                      "--backend-server local)", setter("backend.server", "local"), {"action": "store_true"}),
                Extra(("--price",), "prices.<model>", "$ per 1M input and output tokens of --model",
                      set_price, {"type": float, "nargs": 2, "metavar": ("IN", "OUT")})),
        prepare=prepare_judge, title=lambda d: f"judge {d.get('input_run')} with {d.get('model', 'smollm2-135m')}",
        on_done=lambda stores: print_judge_summary(stores[-1].manifest()))
    agreement = add_command(sub, "agreement", group="watch", help="agreement of a run's rule, judge and human "
                            "verdicts (counts, Cohen's kappa, confusion matrices)")
    agreement.add_argument("run", help="a graded or judging run (with reviews, if a person reviewed it)")
    agreement.add_argument("--json", action="store_true", help="the table as JSON")
    agreement.set_defaults(func=cmd_agreement)
