"""Where things live. `CONFCONSOLE_HOME` (or `--home`) overrides everything; otherwise platformdirs."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "confconsole"


def home(override: str | os.PathLike[str] | None = None) -> Path:
    """The data home holding `runs/`."""
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get("CONFCONSOLE_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_data_dir(APP))


def runs_dir(override: str | os.PathLike[str] | None = None) -> Path:
    path = home(override) / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_file() -> Path:
    """User config (API base URLs, price tables, key names; never the keys themselves)."""
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"
