"""Tagging: a graded and/or judged run -> each record's confidence token and `tagged_response` (+ token).

The verdict comes from the rule grader (`correct`), the LLM judge (`judge_correct`), a human review (the input
run's `reviews.jsonl`, and its inputs': `human`), `best` (human where reviewed, else judge, else rule) or, with
`auto`, the rule verdict when there is one and the judge's otherwise (`experiments.reviews.policy`). A tagged
record's `correct` is the verdict its token encodes (`verdict_source` says whose; the rule's own verdict stays in
`rule_correct`, a human's in `human_correct` with the note). Records without any verdict are errors
(`untaggable_<status>`, `untaggable_unreviewed`): they can't teach confidence. The summary names the policy.

`incorrect_ratio` (Self-REF-style balancing) keeps at most ratio x #correct incorrect records. Chunks always
hold every tagged record; the selection is a pure function of the records and the seed, applied to the outputs
(tagged.parquet / tagged.json) and the SFT export, so a resume or a re-finalize never drops twice.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

from experiments.runs.context import StageContext
from experiments.stages.tagging.spec import TaggingSpec
from experiments.stages.tagging.tokens import confidence_token, record_token_domain


def pick_verdict(record: dict[str, Any], source: str,
                 reviews: Mapping[tuple[str, int], Any] | None = None) -> tuple[bool | None, str]:
    """(verdict, its source: "rule" | "judge" | "human") under the verdict policy `source`; (None, the source
    tried first) when there is none."""
    from experiments.reviews.policy import ORDER, pick

    verdict, used = pick(record, source, reviews)
    if used is not None:
        return verdict, used
    if source in ("auto", "best"):  # no verdict at all: the reason is the grader's (or the judge's) status
        return None, "rule" if "grade_status" in record or "judge_status" not in record else "judge"
    return None, ORDER[source][0]


def untaggable_reason(record: dict[str, Any], source: str) -> tuple[str, str]:
    if source == "human":
        return "untaggable_unreviewed", "no human verdict for this record"
    if source == "judge":
        return f"untaggable_{record.get('judge_status', 'unknown')}", str(record.get("judge_error") or "")
    return f"untaggable_{record.get('grade_status', 'unknown')}", str(record.get("grade_reason", ""))


def tag_record(record: dict[str, Any], spec: TaggingSpec,
               reviews: Mapping[tuple[str, int], Any] | None = None) -> dict[str, Any] | None:
    """None when the verdict is unknown (timeout/error/invalid judge reply, or not reviewed under `human`)."""
    verdict, source = pick_verdict(record, spec.verdict, reviews)
    if verdict is None:
        return None
    token = confidence_token(verdict, record_token_domain(record, spec.domain_names), spec.style)
    response = str(record.get("response") or "").rstrip()
    tagged = {**record, "correct": verdict, "verdict_source": source, "confidence_token": token,
              "tagged_response": f"{response} {token}"}
    if "correct" in record:
        tagged["rule_correct"] = record["correct"]
    review = (reviews or {}).get((str(record.get("example_id", "")), int(record.get("sample_idx", 0) or 0)))
    if review is not None and review.decided:  # the human layer travels with the tagged record
        tagged.update(human_correct=review.correct, human_verdict=review.verdict, human_note=review.note,
                      human_who=review.who)
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
    from experiments.reviews.lineage import lineage_reviews
    from experiments.stages.mirror import map_chunks

    source = ctx.input_store(spec.input_run)
    reviews = lineage_reviews(source) if spec.verdict in ("human", "best") else {}
    if spec.verdict in ("human", "best"):
        ctx.emit.log(f"verdict = {spec.verdict}: {len(reviews)} reviewed records in {source.run_id}'s lineage")

    def tag_chunk(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for record in records:
            tagged = tag_record(record, spec, reviews)
            if tagged is None:
                item = f"{record['example_id']}#{record['sample_idx']}"
                reason, detail = untaggable_reason(record, pick_verdict(record, spec.verdict, reviews)[1])
                ctx.store.add_error(item, reason, detail, stage="tagging")
                ctx.emit.item_error(item, reason, detail)
            else:
                out.append(tagged)
        return out

    map_chunks(source, ctx, tag_chunk, unit="records")


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
    summary: dict[str, Any] = {"records": len(records), "tokens": tokens, "verdict_policy": spec.verdict,
                               "verdict_sources": sources,
                               "human_verdicts": sum(1 for r in records if r.get("human_verdict") is not None),
                               "accuracy": accuracy_table(records),
                               "accuracy_by_model": accuracy_by_model(records)}
    if spec.incorrect_ratio is not None:
        summary["subsample"] = {"incorrect_ratio": spec.incorrect_ratio, "seed": spec.seed, "kept": len(kept),
                                "dropped_incorrect": len(dropped),
                                "kept_incorrect": sum(1 for r in kept if not r.get("correct"))}
    return summary
