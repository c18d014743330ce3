"""CLI of the grading stage: `grade RUN` (a grading run over an inference run's answers) and `grade --file IN
--out OUT` (a JSONL file of answers, no run). `grade-file IN OUT` is the old name of the second."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from experiments.cli.commands import hidden_command
from experiments.cli.common import stage_command
from experiments.textsafe import inert

FILE_HELP = "Grade IN.jsonl lines {domain, response, gold, ...}; write OUT.jsonl in input order with correct / " \
            "extracted / status / reason added."


def print_accuracy(stores: list[Any]) -> None:
    from experiments.report.accuracy import format_accuracy

    print("\n" + inert(format_accuracy(stores[-1].manifest().get("summary", {}).get("accuracy", []))))


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`grade` (and the old `grade-file`) on the main CLI's sub-parsers."""
    parser, spec_args = stage_command(
        subparsers, "grade", "grading", help="grade a run's answers by rule (a grading run), or a JSONL file",
        description="Grade an inference run's answers by rule in a process pool with a hard per-answer timeout "
        "(a grading run: verdicts, accuracy by domain). With --file, grade a JSONL file instead (no run). "
        + FILE_HELP, positional={"input_run": {"metavar": "RUN", "nargs": "?"}},
        title=lambda data: f"grade {data.get('input_run', '')}", on_done=print_accuracy)
    files = parser.add_argument_group("a file instead of a run")
    files.add_argument("--file", metavar="IN.jsonl", help="grade this JSONL file of answers (no run)")
    files.add_argument("--out", metavar="OUT.jsonl", help="with --file: where the graded lines go")
    launch = parser.get_default("func")

    def handler(args: argparse.Namespace) -> int:
        if args.file:
            if not args.out:
                raise ValueError("grade --file IN.jsonl needs --out OUT.jsonl")
            data = spec_args.build(args)
            return grade_jsonl(args.file, args.out, data.get("workers", 0), data.get("timeout", 5.0))
        if not getattr(args, "spec:input_run", None):
            raise ValueError("grade needs RUN (an inference run's id) or --file IN.jsonl --out OUT.jsonl")
        return launch(args)

    parser.set_defaults(func=handler)
    old = hidden_command(subparsers, "grade-file", "grade --file IN.jsonl --out OUT.jsonl")
    old.add_argument("in_path", metavar="IN.jsonl", help="answers: {domain, response, gold, ...} per line")
    old.add_argument("out_path", metavar="OUT.jsonl", help="the graded lines, in input order")
    old.add_argument("--workers", type=int, default=0, help="grading processes (default 0: one per core)")
    old.add_argument("--timeout", type=float, default=5.0, help="hard per-answer limit in seconds (default 5)")
    old.set_defaults(func=run)


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
    """Handler of the old `grade-file IN OUT`; returns the process exit code."""
    return grade_jsonl(args.in_path, args.out_path, args.workers, args.timeout)


def grade_jsonl(in_path: str, out_path: str, workers: int, timeout: float) -> int:
    from experiments.grading.grade_file import grade_file

    bar, update = _progress_bar()
    try:
        with bar:
            summary = grade_file(in_path, out_path, workers=workers or os.cpu_count() or 1, timeout=timeout,
                                 progress=update)
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

