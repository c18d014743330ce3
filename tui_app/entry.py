"""The `confconsole` console script: no command (or `tui`) opens the TUI; anything else runs headless.

It sits above both packages, so `experiments` never has to import the UI.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from experiments.cli.main import build_parser
    from experiments.cli.main import main as headless_main

    argv = list(sys.argv[1:] if argv is None else argv)
    args, _ = build_parser().parse_known_args(argv)
    if args.command not in (None, "tui"):
        return headless_main(argv)
    if args.home:
        os.environ["CONFCONSOLE_HOME"] = str(Path(args.home).expanduser().resolve())
    from experiments.runs import locations
    from tui_app.app import make_app

    make_app(home=locations.home(args.home)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
