"""CLI of the evaluation stage: `evaluate` (a model + adapter over a test set, or an inference run of it) and the
`calibration` export format (an evaluation or delegation run's tables and plots as files)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from experiments.cli.common import stage_command
from experiments.cli.exports import add_export_format
from experiments.cli.spec_args import engine_extras


def title(data: dict[str, Any]) -> str:
    if data.get("input_run"):
        return f"evaluate {data['input_run']}"
    adapter = " + adapter" if data.get("adapter") else ""
    return f"evaluate {data.get('model', 'smollm2-135m')}{adapter} on {data.get('dataset', {}).get('source', 'gsm8k')}"


def print_tables(store: Any, names: tuple[str, ...] | None = None) -> None:
    from experiments.stages.evaluation.views import calibration_view, text_table

    view = calibration_view(store)
    for table in view.tables:
        if names is None or table.name in names:
            print("\n" + text_table(table))
    for note in view.notes:
        if note:
            print("\n" + note)


def evaluation_done(stores: list[Any]) -> None:
    print_tables(stores[-1], ("accuracy_by_domain", "tokens", "tokens_at_threshold", "metrics", "reliability"))
    print(f"\noutputs: {stores[-1].outputs_dir}")


def write_calibration(stores: list[Any], out: Path | None, args: argparse.Namespace) -> list[Path]:
    from experiments.stages.evaluation.export import export_view
    from experiments.stages.evaluation.views import calibration_view

    store = stores[0]
    kinds = [f.strip() for f in (getattr(args, "files", None) or "csv,md,png,svg").split(",") if f.strip()]
    return export_view(calibration_view(store), out or store.output_path("calibration-export"), kinds)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    stage_command(
        sub, "evaluate", "evaluation", help="calibration of a model's confidence tokens (accuracy, AUROC, ECE, ...)",
        description="Generate answers with a model (and a LoRA adapter from an sft run), or read an inference "
        "run's answers (--run), grade them, read each answer's confidence token and P(confident), and report "
        "calibration: accuracy, token distribution, AUROC, ECE, Brier, reliability.",
        aliases={"input_run": ("--run",)}, extras=engine_extras(names=("base-url", "batch-size")), title=title,
        on_done=evaluation_done)
    add_export_format("calibration", "an evaluation or delegation run -> its tables (CSV, Markdown) and plots "
                      "(PNG, SVG) (--out a folder; default the run's outputs/calibration-export)", write_calibration,
                      needs_out=False, single=True, sub=sub,
                      options=((("--files", "--formats"), {"metavar": "KINDS", "help": "calibration: the kinds "
                                "of files, comma-separated: csv, md, png, svg (default: all)"}),))
