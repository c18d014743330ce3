"""CLI commands of the curation stage, one per action: each launches a curation run and prints its result.

`confconsole passrates|buckets|annotate|filter|mixed|critique|sample ...`; outputs land in the run's `outputs/`
(`--out PATH` also writes the main one there). Recomputing verdicts first: `confconsole resume RUN --force`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from experiments.cli.common import add_follow_args, launch_and_follow

RUNS_HELP = "graded or judged runs (ids or prefixes)"


def _verdict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verdict", choices=["auto", "rule", "judge", "human", "best", "reward"], default="auto",
                   help="rule `correct`, judge `judge_correct`, human (reviews), best (human where reviewed, else "
                   "judge, else rule), or reward (numeric field >= threshold)")
    p.add_argument("--reward-field", default="reward", help="the numeric field for --verdict reward")
    p.add_argument("--correct-reward-threshold", type=float, default=1.0,
                   help="--verdict reward: a sample is correct when reward >= this")


def _pair_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--weak", nargs="+", required=required, default=[], help="the weak model's " + RUNS_HELP)
    p.add_argument("--strong", nargs="+", required=required, default=[], help="the strong model's " + RUNS_HELP)


def _common(p: argparse.ArgumentParser, out_help: str) -> None:
    p.add_argument("--out", default="", help=out_help)
    add_follow_args(p)


def _spec(args: argparse.Namespace, action: str, **fields: Any) -> Any:
    from experiments.stages.curation.spec import CurationSpec

    for name in ("verdict", "reward_field", "correct_reward_threshold"):
        if hasattr(args, name):
            fields[name] = getattr(args, name)
    if getattr(args, "weak", None):
        fields.update(weak_runs=args.weak, strong_runs=args.strong)
    return CurationSpec(action=action, out=args.out, title=f"curation {action}", **fields)


def _print_summary(keys: tuple[str, ...]) -> Any:
    def done(stores: list[Any]) -> None:
        summary = stores[-1].manifest().get("summary", {})
        if summary.get("text"):
            print("\n" + summary["text"])
        shown = {k: summary[k] for k in keys if k in summary}
        if shown:
            print("\n" + json.dumps(shown, indent=2, default=str))
        print(f"\noutputs: {stores[-1].outputs_dir}")

    return done


def cmd(action: str, keys: tuple[str, ...]) -> Any:
    def handler(args: argparse.Namespace) -> int:
        fields: dict[str, Any] = {}
        if action in ("passrates", "buckets"):
            fields["runs"] = args.runs
        if action == "buckets":
            fields["save_mapping"] = args.save_mapping
        if action in ("annotate", "filter"):
            fields["source"] = args.source
        if action == "filter":
            fields.update(low_thresh=args.low_thresh, high_thresh=args.high_thresh)
        if action in ("mixed", "critique"):
            fields["keep_disagreement"] = args.keep_disagreement
        if action == "critique":
            fields.update(input_run=args.mixed_run or "", max_per_question=args.max_per_question, seed=args.seed,
                          data_source=args.data_source)
        if action == "sample":
            fields.update(files=args.files, max_prompt_tokens=args.max_prompt_tokens, tokenizer=args.tokenizer,
                          target_per_domain=args.target_per_domain, seed=args.seed,
                          domain_column=args.domain_column, prompt_column=args.prompt_column)
        return launch_and_follow(_spec(args, action, **fields), args, _print_summary(keys))

    return handler


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("passrates", help="pass rate per question of graded/judged runs (idx_to_passrate.json)",
                       description="Pass rate = correct / graded samples per question. Written to each run's "
                       "outputs (passrates.parquet, idx_to_passrate.json: row index in the source file -> rate). "
                       "Recompute the verdicts first with `confconsole resume RUN --force`.")
    p.add_argument("runs", nargs="+", help=RUNS_HELP)
    _verdict_args(p)
    _common(p, "also write idx_to_passrate.json here (one run) or passrates.parquet (several)")
    p.set_defaults(func=cmd("passrates", ("runs",)))

    p = sub.add_parser("buckets", help="difficulty buckets per dataset, per model and side by side",
                       description="impossible (=0), very hard (0,0.2), hard [0.2,0.4), medium [0.4,0.6), "
                       "easy [0.6,0.8), very easy [0.8,1), perfect (=1).")
    p.add_argument("runs", nargs="+", help=RUNS_HELP + " (several datasets and models)")
    p.add_argument("--save-mapping", action="store_true",
                   help="save the combined {dataset: {row index: rate}} mapping (outputs/combined_passrates.json)")
    _verdict_args(p)
    _common(p, "also write buckets.json here")
    p.set_defaults(func=cmd("buckets", ()))

    for action, text in (("annotate", "add low_pass_rate (weak) / high_pass_rate (strong) to a source table"),
                         ("filter", "annotate, then drop rows with low_pass_rate <= LOW or high_pass_rate >= HIGH")):
        p = sub.add_parser(action, help=text, description=text + ". Row i of --source is the question whose "
                           "records have index i; without --source, one row per question of the weak runs.")
        _pair_args(p)
        p.add_argument("--source", default="", help="the source parquet (or JSONL/CSV)")
        if action == "filter":
            p.add_argument("--low-thresh", type=float, default=0.0, help="drop low_pass_rate <= this (default 0)")
            p.add_argument("--high-thresh", type=float, default=1.0, help="drop high_pass_rate >= this (default 1)")
        _verdict_args(p)
        _common(p, f"also write the {action}ed parquet here")
        keys = ("kept_count", "dropped_count", "dropped_by_reason") if action == "filter" else ("rows",)
        p.set_defaults(func=cmd(action, keys))

    p = sub.add_parser("mixed", help="keep questions where at least one model has mixed results",
                       description="Questions both models always get right, or both always wrong, are dropped; "
                       "so is one always right vs the other always wrong unless --keep-disagreement.")
    _pair_args(p)
    p.add_argument("--keep-disagreement", action="store_true", help="keep all-right vs all-wrong questions")
    _verdict_args(p)
    _common(p, "also write mixed.parquet (every solution of the kept questions) here")
    p.set_defaults(func=cmd("mixed", ("questions", "kept_questions", "dropped_by_reason", "kept_solutions")))

    p = sub.add_parser("critique", help="right/wrong critique examples from mixed questions, as verl parquet",
                       description="Give a mixed run, or --weak and --strong (the mixed filter runs first).")
    p.add_argument("mixed_run", nargs="?", help="a `confconsole mixed` run")
    _pair_args(p, required=False)
    p.add_argument("--keep-disagreement", action="store_true", help="see `mixed`")
    p.add_argument("--max-per-question", type=int, default=4, help="solutions per question (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-source", default="critique", help="the verl rows' data_source")
    _verdict_args(p)
    _common(p, "also write the verl parquet here")
    p.set_defaults(func=cmd("critique", ("mixed", "critique")))

    p = sub.add_parser("sample", help="drop over-long prompts, then a seeded sample per domain",
                       description="Each parquet file is a domain (or --domain-column). Tokens are counted with "
                       "--tokenizer's tokenizer (chat template for message lists).")
    p.add_argument("files", nargs="+", help="parquet files")
    p.add_argument("--max-prompt-tokens", type=int, default=None)
    p.add_argument("--tokenizer", default="smollm2-135m", help="model alias or folder (default: embedded)")
    p.add_argument("--target-per-domain", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--domain-column", default="")
    p.add_argument("--prompt-column", default="prompt")
    _common(p, "also write sampled.parquet here")
    p.set_defaults(func=cmd("sample", ("rows", "dropped_too_long", "sampled", "domains")))
