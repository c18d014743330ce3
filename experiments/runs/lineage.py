"""Lineage: the runs a run reads (`inputs`), the pipeline it is a step of, and a pipeline's step runs in order."""

from __future__ import annotations

import os
from typing import Any

from experiments.runs.store import RunStore

Home = str | os.PathLike[str] | None


def is_pipeline(store: RunStore) -> bool:
    return store.manifest().get("stage") == "pipeline"


def step_stores(pipeline: RunStore, home: Home = None) -> list[tuple[str, RunStore | None]]:
    """(step name, its run or None until created), in the pipeline's order."""
    manifest = pipeline.manifest()
    steps = manifest.get("steps") or {}
    out: list[tuple[str, RunStore | None]] = []
    for name in manifest.get("step_order") or []:
        run_id = (steps.get(name) or {}).get("run_id")
        out.append((name, _open(run_id, home)))
    return out


def chain(run: str, home: Home = None) -> list[RunStore]:
    """A pipeline's step runs created so far, in order; a plain run alone."""
    store = RunStore.open(run, home)
    if not is_pipeline(store):
        return [store]
    return [s for _, s in step_stores(store, home) if s is not None]


def inputs_of(store: RunStore, home: Home = None) -> list[RunStore]:
    """The runs this run read (its manifest's `inputs`), those still on disk."""
    found = (_open(run_id, home) for run_id in store.manifest().get("inputs") or [])
    return [s for s in found if s is not None]


def readers_of(store: RunStore, home: Home = None, candidates: list[RunStore] | None = None) -> list[RunStore]:
    """The runs that read this one (their `inputs` name it): its outputs, newest first."""
    runs = candidates if candidates is not None else RunStore.list(home)
    return [s for s in runs if store.run_id in (s.manifest().get("inputs") or [])]


def parent_pipeline(store: RunStore, home: Home = None) -> RunStore | None:
    return _open(store.manifest().get("pipeline"), home)


def _open(run_id: Any, home: Home) -> RunStore | None:
    if not run_id:
        return None
    try:
        return RunStore.open(str(run_id), home)
    except FileNotFoundError:
        return None
