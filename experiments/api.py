"""The headless core's public API: the run kernel bound to the stage registry.

The CLI, the TUI, tests and scripts launch, resume, cancel and wait for runs through here; the kernel itself
(`experiments.runs`) takes the registry as an argument and never imports a stage.
"""

from __future__ import annotations

import os
from typing import Any

from experiments.runs import jobs
from experiments.runs.store import RunStore
from experiments.specs import BaseSpec
from experiments.stages import STAGES, parse_spec, spec_from_toml

__all__ = ["STAGES", "cancel", "launch", "parse_spec", "prepare", "resume", "spec_from_toml", "wait"]

Home = str | os.PathLike[str] | None


def launch(spec: BaseSpec | dict[str, Any], home: Home = None, extra: dict[str, Any] | None = None) -> str:
    """Create a run (a spec with `then`, or a pipeline, becomes a pipeline run) and start its worker(s)."""
    return jobs.launch(spec, home, STAGES, extra)


def prepare(spec: BaseSpec | dict[str, Any], home: Home = None,
            extra: dict[str, Any] | None = None) -> tuple[RunStore, BaseSpec]:
    """Validate and create the run, `queued`, without starting it."""
    return jobs.prepare(spec, home, STAGES, extra)


def resume(run: str, home: Home = None, force: bool = False) -> str:
    return jobs.resume(run, home, STAGES, force)


def cancel(run: str, home: Home = None, wait: float = 10.0, server_grace: float = 15.0) -> str:
    return jobs.cancel(run, home, wait, server_grace)


def wait(run: str, home: Home = None, timeout: float | None = None, poll: float = 0.2) -> str:
    return jobs.wait(run, home, timeout, poll)
