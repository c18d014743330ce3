# PYTHON_ARGCOMPLETE_OK
"""The `confconsole` console script: no command (or `tui`) opens the TUI, `web` serves it to a browser; anything
else runs headless.

It sits above both packages, so `experiments` never has to import the UI. The command word is found without
building the whole parser, so the console opens fast; tab completion (argcomplete) answers before anything runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

CONSOLE_COMMANDS = (None, "tui", "web")


def main(argv: list[str] | None = None) -> int:
    from experiments.cli.commands import command_index

    argv = list(sys.argv[1:] if argv is None else argv)
    if "_ARGCOMPLETE" in os.environ:
        _complete()
    i = command_index(argv)
    command = argv[i] if i is not None else None
    if command not in CONSOLE_COMMANDS or any(a in ("-h", "--help") for a in argv):
        from experiments.cli.main import main as headless_main

        return headless_main(argv)
    args = console_args(argv)
    if args.home:
        os.environ["CONFCONSOLE_HOME"] = str(Path(args.home).expanduser().resolve())
    from experiments.runs import locations

    home = locations.home(args.home)
    if command == "web":
        from tui_app.web import serve

        return serve(home, port=args.port)
    from tui_app.app import make_app

    make_app(home=home).run()
    return 0


def console_args(argv: list[str]) -> argparse.Namespace:
    """`[--home DIR] [tui | web [--port N]]`: what opening the console takes (the full parser is not needed)."""
    parser = argparse.ArgumentParser(prog="confconsole", description="Open the console (`confconsole --help` "
                                     "lists every command).")
    parser.add_argument("--home", help="data home")
    parser.add_argument("command", nargs="?", choices=["tui", "web"])
    parser.add_argument("--port", type=int, default=8000, help="web: port on 127.0.0.1")
    return parser.parse_args(argv)


def _complete() -> None:
    import argcomplete

    from experiments.cli.main import build_parser

    argcomplete.autocomplete(build_parser())


if __name__ == "__main__":
    sys.exit(main())
