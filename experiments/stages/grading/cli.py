"""CLI commands of the grading stage: `grade RUN` (a grading run) and `grade-file` (a JSONL file, no run)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from experiments.cli.common import add_follow_args, launch_and_follow
from experiments.grading.grade_file import grade_file
from experiments.textsafe import inert


def cmd_grade(args: argparse.Namespace) -> int:
    from experiments.report.accuracy import format_accuracy
    from experiments.stages.grading.spec import GradingSpec

    spec = GradingSpec(input_run=args.run, workers=args.workers, timeout=args.timeout, domain=args.domain,
                       title=f"grade {args.run}")

    def done(stores: list) -> None:
        print("\n" + inert(format_accuracy(stores[-1].manifest().get("summary", {}).get("accuracy", []))))

    return launch_and_follow(spec, args, done)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `grade` and `grade-file` to the main CLI's sub-parsers."""
    g = subparsers.add_parser("grade", help="grade an inference run by rule (a grading run)")
    g.add_argument("run")
    g.add_argument("--workers", type=int, default=0, help="grader processes (default 0: one per core)")
    g.add_argument("--timeout", type=float, default=5.0)
    g.add_argument("--domain", default=None, help="override the records' domain")
    add_follow_args(g)
    g.set_defaults(func=cmd_grade)
    p = subparsers.add_parser(
        "grade-file",
        help="grade a JSONL file of responses (math, gsm8k, mc, yesno, code)",
        description="Grade IN.jsonl lines {domain, response, gold, ...}; write OUT.jsonl in input order "
        "with correct / extracted / status / reason added.",
    )
    p.add_argument("in_path", metavar="IN.jsonl")
    p.add_argument("out_path", metavar="OUT.jsonl")
    p.add_argument("--workers", type=int, default=0, help="grading processes (default 0: one per core)")
    p.add_argument("--timeout", type=float, default=5.0, help="hard per-answer limit in seconds (default 5)")
    p.set_defaults(func=run)


def _progress_bar() -> tuple[AbstractContextManager, Callable[[int, int], None] | None]:
    """A rich progress bar on a terminal, nothing otherwise (logs stay plain)."""
    if not sys.stdout.isatty():
        return nullcontext(), None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    task = bar.add_task("grading", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def run(args: argparse.Namespace) -> int:
    """Handler for ``grade-file``; returns the process exit code."""
    bar, update = _progress_bar()
    try:
        with bar:
            summary = grade_file(
                args.in_path, args.out_path, workers=args.workers or os.cpu_count() or 1, timeout=args.timeout,
                progress=update,
            )
    except (OSError, ValueError) as e:
        print(inert(f"grade-file: {e}"), file=sys.stderr)
        return 1
    total = summary["total"]
    print(f"graded {total} answers in {summary['elapsed_s']:.2f}s ({summary['answers_per_s']:.1f} answers/s)")
    for status, n in summary["by_status"].items():
        print(f"{status}: {n}")
    print(f"correct: {summary['correct']}/{total}")
    print(f"wrote {summary['out_path']}")
    return 0
