"""confconsole runs experiments on small and large language models: generate answers over a benchmark, grade or
judge them, tag each with a confidence token, fine-tune the small model to write its own token, measure its
calibration and what delegating uncertain answers to a big model costs. Every run is a folder under the data home,
resumable, and watched live in the console (`confconsole` with no command) or in a browser (`confconsole web`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from experiments.cli.commands import DEFAULT_SUB, ConsoleParser, canonical, old_names_text, renamed_note, walk
from experiments.stages import STAGES
from experiments.textsafe import inert

# Command modules that belong to no stage. Stage commands come from the registry. A module that fails to import
# fails the CLI loudly: a broken module must never silently lose its commands.
CORE_COMMAND_MODULES = ("experiments.cli.demo_cmd", "experiments.cli.manage", "experiments.datasets.cli",
                        "experiments.cli.exports", "experiments.cli.reports", "experiments.cli.engines")

EXAMPLES = """\
examples:
  confconsole demo                          # the embedded model: inference -> grading -> tagging, 20 questions
  confconsole                               # the console: runs, live progress, records with their verdicts
  confconsole infer --dataset gsm8k --limit 50 --model M --then grading tagging
  confconsole grade RUN                     # RUN: a run id or its unique prefix (`confconsole runs` lists them)
  confconsole run spec.toml                 # any stage (or a pipeline) from a spec file
  confconsole show RUN                      # status, progress, summary tables (--json for scripts)
  confconsole export RUN --format predictions --out preds.json
  confconsole COMMAND --help                # every option, with its default and where it lands in the spec

Every command takes --home DIR (or $CONFCONSOLE_HOME): runs live in DIR/runs/<run id>/."""


def build_parser() -> argparse.ArgumentParser:
    parser = ConsoleParser(prog="confconsole", description=__doc__, usage="confconsole [--home DIR] COMMAND ...",
                           epilog=EXAMPLES + "\n\n" + old_names_text(), formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--home", metavar="DIR", help="data home (default $CONFCONSOLE_HOME or the platform data dir)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="confconsole")
    for module in CORE_COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    for stage in STAGES.values():
        stage.register_cli(sub)
    for _, action in walk(parser):  # --home works before or after the command
        if action is not parser and not any("--home" in a.option_strings for a in action._actions):
            action.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS,
                                help="data home (default $CONFCONSOLE_HOME or the platform data dir)")
    return parser


def known_subs(parser: argparse.ArgumentParser) -> dict[str, set[str]]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = {}
    for name in DEFAULT_SUB:
        nested = next((a for a in sub.choices[name]._actions if isinstance(a, argparse._SubParsersAction)), None)
        out[name] = set(nested.choices) if nested else set()
    return out


def parse(argv: list[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """Parse `argv`, old command names included (a note on stderr says what replaced them)."""
    parser = build_parser()
    argv, note = canonical(argv, known_subs(parser))
    if note:
        print(note, file=sys.stderr)
    args = parser.parse_args(argv)
    renamed_note(args)
    return parser, args


def main(argv: list[str] | None = None) -> int:
    parser, args = parse(list(sys.argv[1:] if argv is None else argv))
    if args.home:
        os.environ["CONFCONSOLE_HOME"] = str(Path(args.home).expanduser().resolve())
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(inert(f"confconsole: error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted (runs keep going in their workers; `confconsole runs` lists them)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
