"""Commands of the guided stage, under `guided`: `run` (an evaluation run over a dataset and a (c, k) grid),
`prompt` (one prompt here, two colours, through the stage's own loop) and `stats` (teacher-forced statistics of
any run's answers); the `guided` export format writes the reference's JSONL."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from experiments.cli.commands import add_command, add_sub_commands
from experiments.cli.common import home_of, stage_command
from experiments.cli.exports import add_export_format
from experiments.cli.spec_args import Extra, add_spec_args, option

ALIASES = {"base_backend.kind": ("--base-engine",), "oracle_backend.kind": ("--oracle-engine",)}
PROMPT_FIELDS = ("base", "oracle", "base_backend", "oracle_backend", "policy", "c", "k", "step_size",
                 "max_new_tokens", "threshold", "p_start", "p_end", "seed", "base_sampling", "oracle_sampling",
                 "attention_stats", "ignore_eos")


def url_extras() -> tuple[Extra, ...]:
    return (Extra(("--base-url",), "base_backend.options.base_url", "OpenAI-compatible endpoint of the base",
                  option("base_backend", "base_url"), {"metavar": "URL"}),
            Extra(("--oracle-url",), "oracle_backend.options.base_url", "OpenAI-compatible endpoint of the oracle",
                  option("oracle_backend", "base_url"), {"metavar": "URL"}))


def title(data: dict[str, Any]) -> str:
    dataset = data.get("dataset", {})
    return (f"guided {data.get('base', 'smollm2-135m')} + {data.get('oracle', 'smollm2-135m')} on "
            f"{dataset.get('source', 'arith')} x{dataset.get('limit') or 'all'}")


def cmd_prompt(args: argparse.Namespace) -> int:
    """One prompt in this process: pieces print as they come, base in red and oracle in blue."""
    from experiments.stages import parse_spec
    from experiments.stages.guided.colors import Painter
    from experiments.stages.guided.run import guide_prompt

    spec = parse_spec(args.spec_args.build(args))
    painter = Painter(sys.stdout, verbose=args.verbose, color=args.color)
    painter.legend()
    seq, timings = guide_prompt(spec, args.prompt, _LocalContext(),
                                on_pieces=lambda row, pieces: painter.pieces(pieces))
    painter.end(seq, timings)
    return 0


class _LocalContext:
    """What opening sessions needs from a stage context, in this process (logs go to stderr)."""

    def __init__(self) -> None:
        self.emit = self
        self.served_model = None

    def metric(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, message: str) -> None:
        print(message, file=sys.stderr)

    def start_local_server(self, model: str, args: list[str]) -> str:
        raise ValueError("`guided prompt` cannot start a local server: give --base-url / --oracle-url")


def write_guided(stores: list[Any], out: Path | None, args: argparse.Namespace) -> list[Path]:
    from experiments.stages.guided.records import reference_row

    store = stores[0]
    path = out or store.output_path("guided.jsonl")
    with path.open("w", encoding="utf-8") as fh:
        for record in store.records():
            fh.write(json.dumps(reference_row(record), ensure_ascii=False) + "\n")
    return [path]


def cmd_stats(args: argparse.Namespace) -> int:
    from experiments.stages.guided.analysis import run_stats

    out = run_stats(args.run, home_of(args), model=args.model, attention=args.attention_stats, limit=args.limit)
    print(f"wrote teacher-forced statistics to {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    guided = add_command(sub, "guided", group="run", help="guided decoding: a small base model, a big oracle at "
                         "points a policy picks", description="Guided decoding: the base model writes; where a "
                         "policy picks, the oracle writes the next k tokens, at most c times per answer.")
    commands = add_sub_commands(guided, "commands")
    stage_command(commands, "run", "guided", help="a guided run over a dataset and a (c, k) grid",
                  description="A guided evaluation run: every (c, k) cell of the grid over the dataset, graded, "
                  "with live tokens in the console (g on the run). The grid always holds (0, 0) and the oracle "
                  "alone.", aliases=ALIASES, extras=url_extras(), title=title)
    prompt = add_command(commands, "prompt", group="run", help="one prompt here: base tokens red, oracle tokens "
                         "blue", description="Guided decoding of one prompt in this process, through the stage's "
                         "own loop at (c, k); pieces print as they are written.")
    prompt.add_argument("--prompt", required=True, help="the question (a user message)")
    spec_args = add_spec_args(prompt, "guided", only=PROMPT_FIELDS, aliases=ALIASES, extras=url_extras())
    prompt.add_argument("--verbose", action="store_true", help="statistics at consultation points, and a summary")
    prompt.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                        help="colour the pieces (default: auto, on a terminal)")
    prompt.set_defaults(func=cmd_prompt, spec_args=spec_args)
    stats = add_command(commands, "stats", group="data", help="teacher-forced base-model statistics of any run's "
                        "answers", description="Re-read a run's answers with the base model (teacher forcing): "
                        "entropy, varentropy and top-1 probability at every position, into the run's outputs.")
    stats.add_argument("run", help="any run with answers (guided, inference, ...)")
    stats.add_argument("--model", help="the model that re-reads (default: the run's base or model)")
    stats.add_argument("--attention-stats", action="store_true", help="last-layer attention statistics too")
    stats.add_argument("--limit", type=int, default=None, help="answers to read (default: all)")
    stats.set_defaults(func=cmd_stats)
    add_export_format("guided", "a guided run -> the reference's JSONL (c, k, prompt, result, interleaved_outputs, "
                      "...) (--out a file; default the run's outputs/guided.jsonl)", write_guided, needs_out=False,
                      single=True, sub=sub)
