"""Tagging: a graded and/or judged run -> each record's confidence token and `tagged_response` (+ token).

The verdict comes from the rule grader (`correct`), the LLM judge (`judge_correct`) or, with `auto`, the rule
verdict when there is one and the judge's otherwise. A tagged record's `correct` is the verdict its token
encodes (`verdict_source` says whose; the rule's own verdict stays in `rule_correct`). Records without any
verdict are errors (`untaggable_<status>`): they can't teach confidence.

`incorrect_ratio` (Self-REF-style balancing) keeps at most ratio x #correct incorrect records. Chunks always
hold every tagged record; the selection is a pure function of the records and the seed, applied to the outputs
(tagged.parquet / tagged.json) and the SFT export, so a resume or a re-finalize never drops twice.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from experiments.runs.context import StageContext
from experiments.stages.tagging.spec import TaggingSpec
from experiments.stages.tagging.tokens import confidence_token, record_token_domain


def pick_verdict(record: dict[str, Any], source: str) -> tuple[bool | None, str]:
    """(verdict, "rule"|"judge") per the verdict source; (None, source tried) when there is none."""
    rule, judge = record.get("correct"), record.get("judge_correct")
    if source == "rule":
        return (None if rule is None else bool(rule)), "rule"
    if source == "judge":
        return (None if judge is None else bool(judge)), "judge"
    if rule is not None:
        return bool(rule), "rule"
    if judge is not None:
        return bool(judge), "judge"
    return None, "rule" if "grade_status" in record or "judge_status" not in record else "judge"


def untaggable_reason(record: dict[str, Any], source: str) -> tuple[str, str]:
    if source == "judge":
        return f"untaggable_{record.get('judge_status', 'unknown')}", str(record.get("judge_error") or "")
    return f"untaggable_{record.get('grade_status', 'unknown')}", str(record.get("grade_reason", ""))


def tag_record(record: dict[str, Any], spec: TaggingSpec) -> dict[str, Any] | None:
    """None when the verdict is unknown (timeout/error/invalid judge reply)."""
    verdict, source = pick_verdict(record, spec.verdict)
    if verdict is None:
        return None
    token = confidence_token(verdict, record_token_domain(record, spec.domain_names), spec.style)
    response = str(record.get("response") or "").rstrip()
    tagged = {**record, "correct": verdict, "verdict_source": source, "confidence_token": token,
              "tagged_response": f"{response} {token}"}
    if "correct" in record:
        tagged["rule_correct"] = record["correct"]
    return tagged


def select_records(records: list[dict[str, Any]], ratio: float | None,
                   seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(kept, dropped): all correct records and at most floor(ratio x #correct) incorrect ones, chosen by a
    seeded hash of (example_id, sample_idx) so the choice doesn't depend on record order or chunking."""
    if ratio is None:
        return list(records), []
    correct = [r for r in records if r.get("correct")]
    incorrect = [r for r in records if not r.get("correct")]
    limit = math.floor(ratio * len(correct) + 1e-9)

    def rank(r: dict[str, Any]) -> str:
        return hashlib.sha256(f"{seed}:{r.get('example_id')}:{r.get('sample_idx', 0)}".encode()).hexdigest()

    chosen = {id(r) for r in sorted(incorrect, key=rank)[:limit]}
    kept = [r for r in records if r.get("correct") or id(r) in chosen]
    dropped = [r for r in incorrect if id(r) not in chosen]
    return kept, dropped


def run(spec: TaggingSpec, ctx: StageContext) -> None:
    from experiments.stages.mirror import map_chunks

    def tag_chunk(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for record in records:
            tagged = tag_record(record, spec)
            if tagged is None:
                item = f"{record['example_id']}#{record['sample_idx']}"
                reason, detail = untaggable_reason(record, pick_verdict(record, spec.verdict)[1])
                ctx.store.add_error(item, reason, detail, stage="tagging")
                ctx.emit.item_error(item, reason, detail)
            else:
                out.append(tagged)
        return out

    map_chunks(ctx.input_store(spec.input_run), ctx, tag_chunk, unit="records")


def finalize(spec: TaggingSpec, ctx: StageContext) -> dict[str, Any]:
    from experiments.report.accuracy import accuracy_by_model, accuracy_table
    from experiments.stages.tagging.outputs import write_tagged_outputs

    records = ctx.store.records()
    kept, dropped = select_records(records, spec.incorrect_ratio, spec.seed)
    paths = write_tagged_outputs(ctx.store, kept)
    for path in paths:
        ctx.emit.artifact(str(path), path.suffix.lstrip("."))
    tokens: dict[str, int] = {}
    sources: dict[str, int] = {}
    for r in kept:
        tokens[r["confidence_token"]] = tokens.get(r["confidence_token"], 0) + 1
    for r in records:
        sources[r.get("verdict_source", "rule")] = sources.get(r.get("verdict_source", "rule"), 0) + 1
    summary: dict[str, Any] = {"records": len(records), "tokens": tokens, "verdict_sources": sources,
                               "accuracy": accuracy_table(records),
                               "accuracy_by_model": accuracy_by_model(records)}
    if spec.incorrect_ratio is not None:
        summary["subsample"] = {"incorrect_ratio": spec.incorrect_ratio, "seed": spec.seed, "kept": len(kept),
                                "dropped_incorrect": len(dropped),
                                "kept_incorrect": sum(1 for r in kept if not r.get("correct"))}
    return summary
