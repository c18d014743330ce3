"""Command groups, the grouped `--help`, and old command names kept working for a while.

A command declares its group where it is registered (`add_command(sub, "grade", group="run", ...)`), so the top
`--help` lists commands by group with no central list to keep in step. Old names are rewritten to the new ones
before parsing (`guide` -> `guided prompt`) with a one-line note on stderr; the few whose arguments changed shape
keep a hidden parser of their own (`hidden_command`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from typing import Any

GROUPS: dict[str, str] = {
    "run": "Run a stage (each launches a run and follows it; --detach returns at once)",
    "watch": "Watch and manage runs",
    "data": "Data and exports",
    "serve": "Serve and set up",
}

# Old name -> the words that replace it. Arguments after the name keep their place.
RENAMED: dict[str, tuple[str, ...]] = {
    "guide": ("guided", "prompt"),
    "guided-stats": ("guided", "stats"),
    "guided-export": ("export", "--format", "guided"),
    "calibration-export": ("export", "--format", "calibration"),
    **{action: ("curate", action) for action in ("passrates", "buckets", "annotate", "filter", "mixed", "critique",
                                                  "sample")},
}
# A command with sub-commands that used to take options directly: `guided --base ...` is `guided run --base ...`.
DEFAULT_SUB: dict[str, str] = {"guided": "run"}
GLOBAL_OPTIONS_WITH_VALUE = ("--home",)


class ConsoleParser(argparse.ArgumentParser):
    """The top parser: its help lists commands by group, then the options, then examples."""

    def format_help(self) -> str:
        sub = _subparsers(self)
        if sub is None or not _groups(sub):
            return super().format_help()  # a command with no sub-commands: argparse's own help
        formatter = self._get_formatter()
        formatter.add_usage(self.usage, self._actions, self._mutually_exclusive_groups)
        formatter.add_text(self.description)
        text = formatter.format_help()
        rows = list(command_rows(self))
        width = max((len(name) for _, name, _ in rows), default=10) + 2
        for group, title in GROUPS.items():
            lines = [f"  {name:<{width}}{help_text}" for g, name, help_text in rows if g == group]
            if lines:
                text += f"\n{title}:\n" + "\n".join(lines) + "\n"
        options = self._get_formatter()
        options.start_section("options")
        options.add_arguments([a for a in self._actions if a.option_strings])
        options.end_section()
        text += "\n" + options.format_help()
        if self.epilog:
            text += "\n" + self.epilog.strip("\n") + "\n"
        return text


def add_command(sub: argparse._SubParsersAction, name: str, *, group: str, help: str,  # noqa: A002
                description: str | None = None, **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command in `group` (one of GROUPS); its help line is `help`, its `--help` opens with `description`."""
    if group not in GROUPS:
        raise ValueError(f"unknown command group {group!r}; one of {', '.join(GROUPS)}")
    parser = sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:] + ".",
                            **kwargs)
    _groups(sub)[name] = group
    return parser


def hidden_command(sub: argparse._SubParsersAction, name: str, new: str, **kwargs: Any) -> argparse.ArgumentParser:
    """An old command kept for a while under its old arguments: left out of `--help`, says what replaced it."""
    parser = sub.add_parser(name, description=f"Old name of `confconsole {new}` (still works for a while).",
                            **kwargs)
    parser.set_defaults(renamed_to=new)
    return parser


def add_sub_commands(parser: argparse.ArgumentParser, title: str) -> argparse._SubParsersAction:
    """Sub-commands under a command (`guided run`, `guided prompt`, ...)."""
    return parser.add_subparsers(dest="subcommand", title=title, metavar="COMMAND", required=True, prog=parser.prog)


def _groups(sub: argparse._SubParsersAction) -> dict[str, str]:
    if not hasattr(sub, "_confconsole_groups"):
        sub._confconsole_groups = {}  # type: ignore[attr-defined]
    return sub._confconsole_groups  # type: ignore[attr-defined]


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def command_rows(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(group, full name, help) of every listed command, nested ones under their parent's name."""
    sub = _subparsers(parser)
    if sub is None:
        return
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    shown = {a.dest: a.metavar or a.dest for a in sub._choices_actions}  # `run (pipeline)`: with its aliases
    for name, group in _groups(sub).items():
        child = sub.choices[name]
        nested = _subparsers(child)
        if nested is not None and _groups(nested):
            yield from command_rows(child, f"{prefix}{name} ")
        else:
            yield group, f"{prefix}{shown.get(name, name)}", helps.get(name, "")


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...],
                                                                                         argparse.ArgumentParser]]:
    """Every parser under `parser` (hidden ones too), with the words that reach it; aliases once."""
    yield path, parser
    sub = _subparsers(parser)
    if sub is None:
        return
    seen: set[int] = set()
    for name, child in sub.choices.items():
        if id(child) not in seen:
            seen.add(id(child))
            yield from walk(child, (*path, name))


# -- old names ------------------------------------------------------------------------------------------------
def command_index(argv: Sequence[str]) -> int | None:
    """Where the command word is in `argv` (after global options such as `--home DIR`), or None."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in GLOBAL_OPTIONS_WITH_VALUE:
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            return i
    return None


def canonical(argv: Sequence[str], known_subs: dict[str, set[str]] | None = None) -> tuple[list[str], str]:
    """`argv` with an old command name replaced by the new words, and the note to print ("" when unchanged).
    `known_subs`: the sub-commands of commands in DEFAULT_SUB (a word that is not one gets the default)."""
    argv = list(argv)
    i = command_index(argv)
    if i is None:
        return argv, ""
    word = argv[i]
    if word in RENAMED:
        new = RENAMED[word]
        argv[i:i + 1] = list(new)
        return argv, f"confconsole: `{word}` is now `{' '.join(new)}` (the old name works for a while)"
    if word in DEFAULT_SUB:
        subs = (known_subs or {}).get(word, set())
        following = argv[i + 1] if i + 1 < len(argv) else None
        if following is not None and following not in subs and following not in ("-h", "--help"):
            argv.insert(i + 1, DEFAULT_SUB[word])
            return argv, (f"confconsole: `{word} {following} ...` is now `{word} {DEFAULT_SUB[word]} {following} "
                          f"...` (the old form works for a while)")
    return argv, ""


def renamed_note(args: argparse.Namespace) -> None:
    """A hidden old command was used: say what replaced it."""
    new = getattr(args, "renamed_to", None)
    if new:
        print(f"confconsole: `{args.command}` is now `{new}` (the old name works for a while)", file=sys.stderr)


def old_names_text() -> str:
    import textwrap

    renamed = [f"{old} -> {' '.join(new)}" for old, new in RENAMED.items()]
    text = ("Old names still work for a while: " + ", ".join(renamed)
            + ", guided [options] -> guided run, grade-file -> grade --file, sft-data -> export --format sft.")
    return textwrap.fill(text, 110)
