"""CLI of the tagging stage: `tag RUN` (a tagging run), the `sft` export format (tagged runs -> an SFT dataset)
and the old `sft-data` command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from experiments.cli.commands import hidden_command
from experiments.cli.common import home_of, stage_command
from experiments.cli.exports import add_export_format
from experiments.textsafe import inert

VERDICT_OPTION: dict[str, Any] = {
    "choices": ["tagged", "rule", "judge", "human", "best"], "default": None,
    "help": "--format sft: the tokens as tagged (default), or re-derived from this verdict (best: human where "
    "reviewed, else judge, else rule)"}


def print_tags(stores: list[Any]) -> None:
    from experiments.report.accuracy import format_accuracy

    summary = stores[-1].manifest().get("summary", {})
    print("\ntokens: " + json.dumps(summary.get("tokens", {})))
    if summary.get("subsample"):
        print("subsample: " + json.dumps(summary["subsample"]))
    print("\n" + inert(format_accuracy(summary.get("accuracy", []))))
    print(f"outputs: {stores[-1].outputs_dir}")


def write_sft(stores: list[Any], out: Path | None, args: argparse.Namespace) -> list[Path]:
    from experiments.stages.tagging.sft_data import build_sft_dataset

    assert out is not None
    summary = build_sft_dataset(stores, out, getattr(args, "sft_format", None),
                                getattr(args, "verdict", None) or "tagged")
    print(json.dumps(summary, indent=2))
    return [Path(summary["path"])]


def cmd_sft_data(args: argparse.Namespace) -> int:
    from experiments.runs.store import RunStore

    stores = [RunStore.open(run, home_of(args)) for run in args.runs]
    write_sft(stores, Path(args.out), argparse.Namespace(sft_format=args.format, verdict=args.verdict))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    stage_command(sub, "tag", "tagging", help="confidence-tag a graded or judged run (<CN_..> right, <UN_..> wrong)",
                  description="Append each answer's confidence token from its verdict: <CN_MATH> when right, "
                  "<UN_MATH> when wrong (or <|c_math|> / <|u_math|> with --style pipe).",
                  positional={"input_run": {"metavar": "RUN"}}, title=lambda data: f"tag {data.get('input_run')}",
                  on_done=print_tags)
    add_export_format("sft", "tagging runs -> an SFT dataset, prompt -> tagged answer (--out a .jsonl or "
                      ".parquet file)", write_sft, sub=sub,
                      options=((("--verdict",), VERDICT_OPTION),))
    old = hidden_command(sub, "sft-data", "export RUN... --format sft --out FILE")
    old.add_argument("runs", nargs="+", help="tagging runs")
    old.add_argument("--out", required=True, help="a .jsonl or .parquet file")
    old.add_argument("--format", choices=["jsonl", "parquet"], default=None, help="default: from --out's suffix")
    old.add_argument("--verdict", **VERDICT_OPTION)
    old.set_defaults(func=cmd_sft_data)
