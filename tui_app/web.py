"""`confconsole web`: the console served to a browser by textual-serve, on 127.0.0.1 only.

Each browser tab gets its own console process (`confconsole tui --home HOME`) over the same run folders, so a run
launched anywhere shows live in every terminal and tab at once.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

HOST = "127.0.0.1"


def console_command(home: Path) -> str:
    return f"{shlex.quote(sys.executable)} -m tui_app.entry --home {shlex.quote(str(home))} tui"


def serve(home: Path, port: int = 8000, host: str = HOST) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        print("confconsole web needs textual-serve: pip install textual-serve", file=sys.stderr)
        return 2
    os.environ.setdefault("TEXTUAL_FPS", "30")
    print(f"confconsole web: http://{host}:{port}  (runs under {home}; ctrl+c stops)", flush=True)
    Server(console_command(home), host=host, port=port, title="confconsole").serve()
    return 0
