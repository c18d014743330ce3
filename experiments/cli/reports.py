"""CLI commands over finished runs: `report` (Markdown/HTML of a run or a pipeline) and `compare` (two runs over
the same questions)."""

from __future__ import annotations

import argparse
import json

from experiments.cli.commands import add_command
from experiments.cli.common import home_of
from experiments.textsafe import inert


def cmd_report(args: argparse.Namespace) -> int:
    from experiments.report.build import build_report
    from experiments.report.render import write_report
    from experiments.runs.store import RunStore

    store = RunStore.open(args.run, home_of(args))
    for path in write_report(build_report(store, home_of(args)), args.out):
        print(f"wrote {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from experiments.runs.store import RunStore
    from experiments.views.compare import compare_runs, compare_text

    home = home_of(args)
    result = compare_runs(RunStore.open(args.a, home), RunStore.open(args.b, home), home)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, default=str))
        return 0
    print(inert(compare_text(result, limit=args.limit, question=args.question, home=home)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(sub, "report", group="data", help="a run or a whole pipeline as report.html or .md: specs, "
                    "tables, plots, timings, cost", description="Write a report of a run or a whole pipeline: "
                    "specs, accuracy by domain, calibration tables and plots, delegation, guided grid, timings "
                    "and cost.")
    p.add_argument("run", help="a run id (or unique prefix), e.g. a pipeline's")
    p.add_argument("--out", default="report.html", help="report.html (one self-contained file) or report.md "
                   "(plots as PNG files beside it); default: report.html")
    p.set_defaults(func=cmd_report)
    c = add_command(sub, "compare", group="watch", help="two runs over the same questions side by side",
                    description="Two runs over the same questions side by side: accuracy by domain, the questions "
                    "where they differ, one question's records next to each other.")
    c.add_argument("a", help="the first run (graded, judged, tagged or evaluated; an inference run is compared "
                   "through the grading run that read it)")
    c.add_argument("b", help="the second run")
    c.add_argument("--question", help="show this example id's records of both runs side by side")
    c.add_argument("--limit", type=int, default=20, help="differing questions to list (default 20)")
    c.add_argument("--json", action="store_true", help="the whole comparison as JSON")
    c.set_defaults(func=cmd_compare)
