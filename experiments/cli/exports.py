"""`confconsole export RUN... --format F --out PATH`: one command for every export; stages add their formats.

A format is registered where its code lives (`add_export_format` in a stage's `cli.register`), so `--format`'s
choices and help list every format with no central table. Each writer gets the opened runs, the `--out` path
(or None: its default) and the parsed args, and returns the files it wrote.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.cli.commands import add_command
from experiments.cli.common import home_of

Writer = Callable[[list[Any], "Path | None", argparse.Namespace], list[Path]]


@dataclass(frozen=True)
class ExportFormat:
    name: str
    help: str  # what it writes, from which runs
    writer: Writer
    needs_out: bool = True  # False: the writer has a default place (the run's outputs/)
    single: bool = False  # exactly one run


FORMATS: dict[str, ExportFormat] = {}


def add_export_format(name: str, help: str, writer: Writer, *, needs_out: bool = True,  # noqa: A002
                      single: bool = False, sub: argparse._SubParsersAction | None = None,
                      options: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = ()) -> None:
    """A format of `export`; `options` (flags, add_argument kwargs) are added to the `export` command in `sub`."""
    FORMATS[name] = ExportFormat(name, help, writer, needs_out, single)
    parser = sub.choices.get("export") if sub is not None else None
    if parser is not None:
        known = {s for a in parser._actions for s in a.option_strings}
        for flags, kwargs in options:
            if not known & set(flags):
                parser.add_argument(*flags, **kwargs)


def _seed(fmt: str) -> Writer:
    def write(stores: list[Any], out: Path | None, args: argparse.Namespace) -> list[Path]:
        from experiments.exports import export_run

        assert out is not None
        return export_run(stores, fmt, out)
    return write


add_export_format("predictions", "one inference/graded run -> the seed scripts' predictions JSON (--out a .json "
                  "file)", _seed("predictions"), single=True)
add_export_format("merged", "runs -> one JSON per model, records sorted by example (--out a folder)",
                  _seed("merged"))



def _reviewed(stores: list[Any], out: Path | None, args: argparse.Namespace) -> list[Path]:
    from experiments.reviews.export import write_reviewed

    assert out is not None
    path, rows = write_reviewed(stores[0], out)
    print(f"{rows} reviewed records")
    return [path]


add_export_format("reviewed", "one run's records a person reviewed, rule/judge/human verdicts side by side "
                  "(--out a .jsonl/.json/.parquet/.csv file)", _reviewed, single=True)

def cmd_export(args: argparse.Namespace) -> int:
    from experiments.runs.store import RunStore

    fmt = FORMATS[args.format]
    if fmt.needs_out and not args.out:
        raise ValueError(f"--format {fmt.name} needs --out PATH ({fmt.help})")
    if fmt.single and len(args.runs) != 1:
        raise ValueError(f"--format {fmt.name} takes exactly one run, got {len(args.runs)}")
    stores = [RunStore.open(run, home_of(args)) for run in args.runs]
    for path in fmt.writer(stores, Path(args.out) if args.out else None, args):
        print(f"wrote {path}")
    return 0


def formats_text() -> str:
    import textwrap

    width = max(len(n) for n in FORMATS) + 2
    lines = [textwrap.fill(fmt.help, 110, initial_indent=f"  {name:<{width}}", subsequent_indent=" " * (width + 2))
             for name, fmt in FORMATS.items()]
    return "Write runs to files. Formats:\n" + "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(sub, "export", group="data", help="write runs to files: predictions, merged, sft, guided, "
                    "calibration, ...", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN", help="the runs to export (ids or unique prefixes)")
    p.add_argument("--format", default="predictions", choices=FORMATS, metavar="FORMAT",
                   help="what to write, one of the list above (default: predictions)")
    p.add_argument("--out", help="the file or folder to write (required unless the format has a default)")
    p.set_defaults(func=cmd_export)

    def format_help() -> str:  # stages add their formats after this command exists: list them when asked
        p.description = formats_text()
        return argparse.ArgumentParser.format_help(p)

    p.format_help = format_help  # type: ignore[method-assign]
