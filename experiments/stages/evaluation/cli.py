"""CLI of the evaluation stage: `evaluate` (a model + adapter over a test set, or an inference run) and
`calibration-export` (an evaluation or delegation run's tables and plots as files)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from experiments.cli.common import add_follow_args, engine_options, home_of, launch_and_follow
from experiments.specs import DEFAULT_MAX_TOKENS


def evaluation_spec(args: argparse.Namespace) -> Any:
    from experiments.datasets.base import DatasetSpec
    from experiments.specs import BackendSpec, SamplingSpec
    from experiments.stages.evaluation.spec import EvaluationSpec

    options = engine_options(args, "base_url", "batch_size")
    return EvaluationSpec(
        title=args.title or (f"evaluate {args.run}" if args.run else
                             f"evaluate {args.model}{' + adapter' if args.adapter else ''} on {args.dataset}"),
        input_run=args.run or "", dataset=DatasetSpec(source=args.dataset, limit=args.limit), model=args.model,
        adapter=args.adapter, backend=BackendSpec(kind=args.backend, options=options),
        sampling=SamplingSpec(max_tokens=args.max_tokens, logprobs=args.logprobs), chunk_size=args.chunk_size,
        p_confident=args.p_confident, style=args.style)


def print_tables(store: Any, names: tuple[str, ...] | None = None) -> None:
    from experiments.stages.evaluation.views import calibration_view, text_table

    view = calibration_view(store)
    for table in view.tables:
        if names is None or table.name in names:
            print("\n" + text_table(table))
    for note in view.notes:
        if note:
            print("\n" + note)


def cmd_evaluate(args: argparse.Namespace) -> int:
    def done(stores: list[Any]) -> None:
        print_tables(stores[-1], ("accuracy_by_domain", "tokens", "metrics", "reliability"))
        print(f"\noutputs: {stores[-1].outputs_dir}")

    return launch_and_follow(evaluation_spec(args), args, done)


def cmd_export(args: argparse.Namespace) -> int:
    from experiments.runs.store import RunStore
    from experiments.stages.evaluation.export import export_view
    from experiments.stages.evaluation.views import calibration_view

    store = RunStore.open(args.run, home_of(args))
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    for path in export_view(calibration_view(store), Path(args.out), formats):
        print(path)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("evaluate", help="calibration of a model's confidence tokens (accuracy, AUROC, ECE, ...)")
    p.add_argument("--run", help="evaluate this inference run's answers instead of generating")
    p.add_argument("--dataset", default="arith", help="built-in source or a local file")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--adapter", default=None, help="LoRA adapter: a peft folder or an sft run id")
    p.add_argument("--backend", choices=["hf", "vllm", "openai_compat"], default="hf")
    p.add_argument("--base-url", help="openai_compat endpoint")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    p.add_argument("--logprobs", type=int, default=None, help="top-k logprobs: P(confident) from the engine")
    p.add_argument("--p-confident", choices=["auto", "logprobs", "scoring", "off"], default="auto")
    p.add_argument("--style", choices=["auto", "angle", "pipe"], default="auto")
    p.add_argument("--chunk-size", type=int, default=8)
    p.add_argument("--title", default="")
    add_follow_args(p)
    p.set_defaults(func=cmd_evaluate)
    e = sub.add_parser("calibration-export", help="an evaluation/delegation run's tables (CSV, Markdown) and "
                       "plots (PNG, SVG)")
    e.add_argument("run")
    e.add_argument("--out", required=True, help="folder to write into")
    e.add_argument("--formats", default="csv,md,png,svg", help="comma-separated: csv, md, png, svg")
    e.set_defaults(func=cmd_export)
