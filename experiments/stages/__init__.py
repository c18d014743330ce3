"""Stages: each a plain function `run(spec, ctx)` over the run store. Registry with lazy imports."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

STAGE_MODULES: dict[str, str] = {
    "inference": "experiments.stages.inference",
    "grading": "experiments.stages.grading",
    "judging": "experiments.stages.judging",
    "tagging": "experiments.stages.tagging",
}


def stage_runner(stage: str) -> Callable[..., Any]:
    try:
        module = STAGE_MODULES[stage]
    except KeyError:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGE_MODULES)}") from None
    return importlib.import_module(module).run


def stage_finalizer(stage: str) -> Callable[..., Any] | None:
    """Optional `finalize(spec, ctx)`: runs once, after every chunk of every worker is done."""
    return getattr(importlib.import_module(STAGE_MODULES[stage]), "finalize", None)
