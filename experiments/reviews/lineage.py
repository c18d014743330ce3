"""Reviews that apply to a run's records: its own, then those of the runs it copies its records from.

Grading, judging and tagging keep their input run's records (same ids, same responses) and add verdicts, so a
person who reviewed a graded run has also reviewed the judging run made over it. The walk follows a run's single
input while the run is one of those stages; a nearer run's review of a record wins over an older one. Stages that
write new responses (inference, evaluation, delegation) end the walk.
"""

from __future__ import annotations

from pathlib import Path

from experiments.reviews.store import REVIEWS_FILE, Key, Review, ReviewStore
from experiments.runs.store import RunStore

COPYING_STAGES = ("grading", "judging", "tagging")
MAX_DEPTH = 16


def lineage_runs(store: RunStore) -> list[RunStore]:
    """The run, then each input it copied its records from, nearest first."""
    runs = [store]
    seen = {store.run_id}
    current = store
    for _ in range(MAX_DEPTH):
        manifest = current.manifest()
        inputs = manifest.get("inputs") or []
        if manifest.get("stage") not in COPYING_STAGES or len(inputs) != 1:
            break
        parent = current.dir.parent / str(inputs[0])
        if str(inputs[0]) in seen or not (parent / "manifest.json").exists():
            break
        current = RunStore(parent)
        seen.add(current.run_id)
        runs.append(current)
    return runs


def lineage_reviews(store: RunStore) -> dict[Key, Review]:
    """Every decided review that applies to `store`'s records (nearest run wins)."""
    merged: dict[Key, Review] = {}
    for run in reversed(lineage_runs(store)):
        if (Path(run.dir) / REVIEWS_FILE).exists():
            merged.update(ReviewStore(run.dir).reviewed())
    return merged


def reviews_signature(store: RunStore) -> list[list[object]]:
    """(run, size, mtime) of every reviews file in the lineage: a cache of anything derived from reviews keys on it."""
    out: list[list[object]] = []
    for run in lineage_runs(store):
        path = Path(run.dir) / REVIEWS_FILE
        if path.exists():
            stat = path.stat()
            out.append([run.run_id, stat.st_size, stat.st_mtime_ns])
    return out
