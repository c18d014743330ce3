"""CLI commands of the tagging stage: `tag` (launch a tagging run) and `sft-data` (export tagged runs)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from experiments.cli.common import add_follow_args, home_of, launch_and_follow
from experiments.textsafe import inert


def cmd_tag(args: argparse.Namespace) -> int:
    from experiments.report.accuracy import format_accuracy
    from experiments.runs.store import RunStore
    from experiments.stages.tagging.spec import TaggingSpec

    RunStore.open(args.run, home_of(args))
    spec = TaggingSpec(input_run=args.run, style=args.style, verdict=args.verdict,
                       incorrect_ratio=args.incorrect_ratio, seed=args.seed, title=f"tag {args.run}")

    def done(stores: list[Any]) -> None:
        summary = stores[-1].manifest().get("summary", {})
        print("\ntokens: " + json.dumps(summary.get("tokens", {})))
        if summary.get("subsample"):
            print("subsample: " + json.dumps(summary["subsample"]))
        print("\n" + inert(format_accuracy(summary.get("accuracy", []))))
        print(f"outputs: {stores[-1].outputs_dir}")

    return launch_and_follow(spec, args, done)


def cmd_sft_data(args: argparse.Namespace) -> int:
    from experiments.runs.store import RunStore
    from experiments.stages.tagging.sft_data import build_sft_dataset

    stores = [RunStore.open(run, home_of(args)) for run in args.runs]
    summary = build_sft_dataset(stores, Path(args.out), args.format, args.verdict)
    print(json.dumps(summary, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    tag = sub.add_parser("tag", help="confidence-tag a graded or judged run")
    tag.add_argument("run")
    tag.add_argument("--style", choices=["angle", "pipe"], default="angle")
    tag.add_argument("--verdict", choices=["auto", "rule", "judge", "human", "best"], default="auto",
                     help="whose verdict sets the token; best = human where reviewed, else judge, else rule")
    tag.add_argument("--incorrect-ratio", type=float, default=None,
                     help="keep at most R incorrect examples per correct one")
    tag.add_argument("--seed", type=int, default=0)
    add_follow_args(tag)
    tag.set_defaults(func=cmd_tag)
    sft = sub.add_parser("sft-data", help="combined SFT dataset (prompt -> tagged response) of tagging runs")
    sft.add_argument("runs", nargs="+")
    sft.add_argument("--out", required=True, help="a .jsonl or .parquet file")
    sft.add_argument("--format", choices=["jsonl", "parquet"], default=None,
                     help="default: from --out's suffix")
    sft.add_argument("--verdict", choices=["tagged", "rule", "judge", "human", "best"], default="tagged",
                     help="tagged: each record's token as tagged; else re-derive it from this verdict (best = "
                     "human where reviewed, else judge, else rule)")
    sft.set_defaults(func=cmd_sft_data)
