"""Stages that transform another run's records chunk by chunk (tagging over a graded run, evaluation over an
inference run, delegation over an evaluation run): their chunks mirror the input run's, so a resume skips the
chunks already written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from experiments.runs.context import StageContext
from experiments.runs.store import RunStore


def map_chunks(source: RunStore, ctx: StageContext, compute: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
               inputs: list[str] | None = None, unit: str = "answers") -> None:
    """Write `compute(input chunk i)` as chunk i for this worker's input chunks that are not done yet."""
    store, emit = ctx.store, ctx.emit
    total = source.record_count()
    store.update_manifest(inputs=inputs or [source.run_id], counts={"expected_records": total},
                          chunks_in_flight=1)  # one chunk at a time: a kill -9 loses at most that one
    done = 0
    for i in source.done_chunks():
        if not ctx.owns(i):
            continue
        if store.chunk_done(i):
            emit.chunk(i, "skipped")
            done += len(store.read_chunk(i))
            continue
        written = store.write_chunk(i, compute(source.read_chunk(i)))
        emit.chunk(i, "computed", written)
        done += written
        emit.progress(done, total, unit=unit)
    emit.progress(done, total, unit=unit, force=True)
