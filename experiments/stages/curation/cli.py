"""CLI of the curation stage: `curate ACTION [INPUTS]`, flags generated from `CurationSpec` (its `action` picks
which matter). Outputs land in the run's `outputs/` (`--out PATH` also writes the main one there). Recomputing
verdicts first: `confconsole resume RUN --force`. The actions' old names (`passrates`, `filter`, ...) still work.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from experiments.cli.common import stage_command

ACTIONS = """actions:
  passrates  pass rate per question of graded/judged runs (INPUTS: the runs); outputs passrates.parquet and
             idx_to_passrate.json (row index in the source file -> rate)
  buckets    difficulty buckets per dataset and model: impossible (=0), very hard (0,0.2), hard [0.2,0.4),
             medium [0.4,0.6), easy [0.6,0.8), very easy [0.8,1), perfect (=1) (INPUTS: the runs)
  annotate   add low_pass_rate (--weak) / high_pass_rate (--strong) to --source (row i = record index i)
  filter     annotate, then drop rows with low_pass_rate <= --low-thresh or high_pass_rate >= --high-thresh
  mixed      keep questions where at least one model has mixed results (--weak, --strong)
  critique   right/wrong critique examples from mixed questions, as verl parquet (INPUTS: a mixed run, or
             --weak and --strong)
  sample     drop over-long prompts, then a seeded sample per domain (INPUTS: parquet files)"""
KEYS = {"passrates": ("runs",), "buckets": (), "annotate": ("rows",),
        "filter": ("kept_count", "dropped_count", "dropped_by_reason"),
        "mixed": ("questions", "kept_questions", "dropped_by_reason", "kept_solutions"),
        "critique": ("mixed", "critique"), "sample": ("rows", "dropped_too_long", "sampled", "domains")}
INPUT_FIELD = {"passrates": "runs", "buckets": "runs", "critique": "input_run", "sample": "files"}


def prepare(data: dict[str, Any], args: argparse.Namespace) -> None:
    """INPUTS go where the action reads them: runs, a mixed run, or files."""
    action = data.get("action", "passrates")
    inputs = list(args.inputs or [])
    if not inputs:
        return
    target = INPUT_FIELD.get(action)
    if target is None:
        raise ValueError(f"curate {action} takes no INPUTS; it reads --weak and --strong runs")
    if target == "input_run":
        if len(inputs) != 1:
            raise ValueError("curate critique takes one mixed run (or --weak and --strong)")
        data[target] = inputs[0]
    else:
        data[target] = inputs


def done(stores: list[Any]) -> None:
    summary = stores[-1].manifest().get("summary", {})
    if summary.get("text"):
        print("\n" + summary["text"])
    shown = {k: summary[k] for k in KEYS.get(summary.get("action", ""), ()) if k in summary}
    if shown:
        print("\n" + json.dumps(shown, indent=2, default=str))
    print(f"\noutputs: {stores[-1].outputs_dir}")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser, _ = stage_command(
        sub, "curate", "curation", help="training data by pass rate: passrates, buckets, filter, mixed, critique, "
        "sample", description="Curation over graded or judged runs with n samples per prompt; ACTION picks "
        "what the run computes.", positional={"action": {"metavar": "ACTION"}},
        skip=("runs", "input_run", "files"), aliases={"weak_runs": ("--weak",), "strong_runs": ("--strong",)},
        prepare=prepare, title=lambda data: f"curation {data.get('action', 'passrates')}", on_done=done)
    parser.add_argument("inputs", nargs="*", metavar="INPUTS", help="runs (passrates, buckets), a mixed run "
                        "(critique) or parquet files (sample)")
    parser.epilog = ACTIONS
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
