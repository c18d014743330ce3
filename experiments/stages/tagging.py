"""Tagging: a graded run -> each record's confidence token and `tagged_response` (response + token)."""

from __future__ import annotations

from typing import Any

from experiments.specs import TaggingSpec
from experiments.stages.context import StageContext
from experiments.stages.tokens import confidence_token


def tag_record(record: dict[str, Any], spec: TaggingSpec) -> dict[str, Any] | None:
    """None when the verdict is unknown (timeout/error): such a record can't teach confidence."""
    correct = record.get("correct")
    if correct is None:
        return None
    token = confidence_token(bool(correct), record.get("domain", "math"), spec.style, spec.domain_names)
    response = record.get("response", "").rstrip()
    return {**record, "confidence_token": token, "tagged_response": f"{response} {token}"}


def run(spec: TaggingSpec, ctx: StageContext) -> None:
    store, emit = ctx.store, ctx.emit
    source = ctx.input_store(spec.input_run)
    store.update_manifest(inputs=[source.run_id])
    total = sum(1 for _ in source.iter_records())
    done = 0
    for i in source.done_chunks():
        if not ctx.owns(i):
            continue
        if store.chunk_done(i):
            emit.chunk(i, "skipped")
            done += len(store.read_chunk(i))
            continue
        out = []
        for record in source.read_chunk(i):
            tagged = tag_record(record, spec)
            if tagged is None:
                item = f"{record['example_id']}#{record['sample_idx']}"
                reason = f"untaggable_{record.get('grade_status', 'unknown')}"
                store.add_error(item, reason, record.get("grade_reason", ""), stage="tagging")
                emit.item_error(item, reason, record.get("grade_reason", ""))
            else:
                out.append(tagged)
        store.write_chunk(i, out)
        emit.chunk(i, "computed", len(out))
        done += len(out)
        emit.progress(done, total, unit="records")
    emit.progress(done, total, unit="records", force=True)


def finalize(spec: TaggingSpec, ctx: StageContext) -> dict[str, Any]:
    from experiments.stages.report import accuracy_table, write_tagged_outputs

    records = ctx.store.records()
    paths = write_tagged_outputs(ctx.store, records)
    for path in paths:
        ctx.emit.artifact(str(path), path.suffix.lstrip("."))
    tokens: dict[str, int] = {}
    for r in records:
        tokens[r["confidence_token"]] = tokens.get(r["confidence_token"], 0) + 1
    return {"records": len(records), "tokens": tokens, "accuracy": accuracy_table(records)}
