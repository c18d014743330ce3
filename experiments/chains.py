"""Walking `then` chains: a run and the runs launched on its output (`next_run` links), in order."""

from __future__ import annotations

import os
from collections.abc import Iterator

from experiments.store import RunStore


def next_store(store: RunStore, home: str | os.PathLike[str] | None = None) -> RunStore | None:
    nxt = store.manifest().get("next_run")
    return RunStore.open(nxt, home) if nxt else None


def walk(run: str, home: str | os.PathLike[str] | None = None) -> Iterator[RunStore]:
    store: RunStore | None = RunStore.open(run, home)
    while store is not None:
        yield store
        store = next_store(store, home)


def chain(run: str, home: str | os.PathLike[str] | None = None) -> list[RunStore]:
    return list(walk(run, home))
