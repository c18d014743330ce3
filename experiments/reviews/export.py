"""The reviewed set of a run: each reviewed record with its rule, judge and human verdicts side by side.

`confconsole export RUN --format reviewed --out reviewed.jsonl` (or `.parquet`, `.csv`), and `E` on the Records
screen. Reviews are those that apply to the run (its own and its inputs', `experiments.reviews.lineage`); records
are read by offset through the run's index, so exporting a few hundred reviews of a million-record run is quick.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from experiments.reviews.lineage import lineage_reviews
from experiments.reviews.policy import judge_verdict, rule_verdict
from experiments.runs.store import RunStore

REVIEWED_COLUMNS = ["example_id", "sample_idx", "domain", "model", "question", "gold", "response", "extracted",
                    "rule_correct", "judge_correct", "judge_reasoning", "human_verdict", "human_correct", "note",
                    "who", "reviewed_at", "previous_verdict", "run_id"]


def reviewed_rows(store: RunStore) -> list[dict[str, Any]]:
    """One row per reviewed record (skips included: `human_verdict = "skip"`), in run order."""
    from experiments.views.records_index import RecordsIndex

    reviews = lineage_reviews(store)
    if not reviews:
        return []
    index = RecordsIndex.open(store)
    keys = list(reviews)
    found = sorted((int(row), key) for row, key in zip(index.rows_of(keys).tolist(), keys, strict=True) if row >= 0)
    records = index.records([row for row, _ in found])
    rows = []
    for (_, key), record in zip(found, records, strict=True):
        review = reviews[key]
        when = datetime.fromtimestamp(review.ts, timezone.utc).isoformat(timespec="seconds") if review.ts else ""
        rows.append({"example_id": key[0], "sample_idx": key[1], "domain": record.get("domain"),
                     "model": record.get("model"), "question": record.get("question"),
                     "gold": _text(record.get("gold")),
                     "response": record.get("response"), "extracted": _text(record.get("extracted")),
                     "rule_correct": rule_verdict(record), "judge_correct": judge_verdict(record),
                     "judge_reasoning": record.get("judge_reasoning"), "human_verdict": review.verdict,
                     "human_correct": review.correct, "note": review.note, "who": review.who, "reviewed_at": when,
                     "previous_verdict": (review.previous or {}).get("verdict"), "run_id": store.run_id})
    return rows


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def write_reviewed(store: RunStore, out: Path) -> tuple[Path, int]:
    """Write the reviewed set to `out` (.jsonl, .json, .parquet or .csv, by suffix): (path, rows)."""
    rows = reviewed_rows(store)
    if not rows:
        raise ValueError(f"run {store.run_id} has no reviews yet (press v on its records in the console)")
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix in (".parquet", ".csv"):
        import pandas as pd

        frame = pd.DataFrame(rows, columns=REVIEWED_COLUMNS)
        tmp = out.with_name(f".{out.name}.tmp")
        frame.to_parquet(tmp, index=False) if suffix == ".parquet" else frame.to_csv(tmp, index=False)
        tmp.replace(out)
    elif suffix in (".jsonl", ".json", ""):
        from experiments.runs.atomic import write_text_atomic

        body = json.dumps(rows, indent=2, ensure_ascii=False) + "\n" if suffix == ".json" else \
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        write_text_atomic(out, body)
    else:
        raise ValueError(f"unknown suffix {out.suffix!r} for the reviewed export (.jsonl, .json, .parquet, .csv)")
    return out, len(rows)
