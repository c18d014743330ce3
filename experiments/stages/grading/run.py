"""Grading: an inference run's records -> verdicts (correct, extracted answer, status, reason).

Grading runs in a process pool with a hard per-item timeout (a hung answer is killed and recorded as `timeout`).
Chunks mirror the input run's chunks, so grading can follow a still-running inference and resume the same way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from experiments.grading import GradeItem, GradingPool
from experiments.runs.context import StageContext
from experiments.stages.grading.spec import GradingSpec

POLL_S = 2.0


def run(spec: GradingSpec, ctx: StageContext) -> None:
    store, emit = ctx.store, ctx.emit
    source = ctx.input_store(spec.input_run)
    store.update_manifest(inputs=[source.run_id])
    in_chunks = [i for i in source.done_chunks() if ctx.owns(i)]
    todo = [i for i in in_chunks if not store.chunk_done(i)]
    for i in in_chunks:
        if i not in todo:
            emit.chunk(i, "skipped")
    total = source.record_count()
    store.update_manifest(counts={"expected_records": total}, chunks_in_flight=1)  # one chunk at a time
    done = store.record_count()
    emit.log(f"grading {total} records of {source.run_id} ({len(todo)} chunks to do)")
    emit.progress(done, total, unit="answers", force=True)
    started, graded = time.monotonic(), 0
    workers = spec.workers or os.cpu_count() or 1
    emit.log(f"{workers} grader processes")
    with GradingPool(workers=workers, timeout=spec.timeout) as pool:
        for i in todo:
            out = grade_records(pool, source.read_chunk(i), ctx, spec.domain)
            store.write_chunk(i, out)
            emit.chunk(i, "computed", len(out))
            done += len(out)
            graded += len(out)
            emit.progress(done, total, unit="answers")
            emit.metric("answers_per_s", graded / max(1e-9, time.monotonic() - started))
    emit.progress(done, total, unit="answers", force=True)


def grade_records(pool: GradingPool, records: list[dict[str, Any]], ctx: StageContext, domain: str | None = None,
                  text: Callable[[dict[str, Any]], str] | None = None) -> list[dict[str, Any]]:
    """Each record with its verdict (correct, extracted, grade_status, grade_reason); a grader timeout or error
    is also recorded as a bad item. `text` picks what is graded (default: the response). Shared with the
    evaluation stage, which grades the response without its confidence token."""
    items = [GradeItem(domain=domain or r.get("domain", "gsm8k"),
                       response=text(r) if text else r.get("response", ""),
                       gold=str(r.get("gold", "")), context=r.get("context") or {}) for r in records]
    out: list[dict[str, Any]] = []
    for record, verdict in zip(records, pool.grade_all(items), strict=True):
        v = verdict.model_dump()
        out.append({**record, "correct": v["correct"], "extracted": v["extracted"],
                    "grade_status": v["status"], "grade_reason": v["reason"]})
        if v["status"] in ("timeout", "error"):
            item = f"{record['example_id']}#{record['sample_idx']}"
            ctx.store.add_error(item, f"grader_{v['status']}", v["reason"], stage=ctx.store.manifest().get("stage"))
            ctx.emit.item_error(item, f"grader_{v['status']}", v["reason"])
    return out


def finalize(spec: GradingSpec, ctx: StageContext) -> dict[str, Any]:
    from experiments.report.accuracy import accuracy_table
    from experiments.stages.grading.verdicts import write_verdicts

    records = ctx.store.records()
    ctx.emit.artifact(str(write_verdicts(ctx.store, records)), "parquet")
    statuses: dict[str, int] = {}
    for r in records:
        statuses[r["grade_status"]] = statuses.get(r["grade_status"], 0) + 1
    return {"records": len(records), "statuses": statuses, "accuracy": accuracy_table(records)}
