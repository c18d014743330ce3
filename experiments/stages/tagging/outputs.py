"""Tagging outputs: tagged.parquet (one row per record) and tagged.json (the seed's shape)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.runs.store import RunStore

TAGGED_COLUMNS = ["example_id", "sample_idx", "domain", "model", "question", "gold", "response", "extracted",
                  "correct", "verdict_source", "confidence_token", "tagged_response"]


def tagged_json(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The seed's shape: {"<index>": {question, response, correct_answer, correct, confidence_token,
    tagged_response}}; keys are "<index>_<sample_idx>" when any example has several samples, and the example
    id when indexes collide (records from several sources)."""
    multi = any(int(r.get("sample_idx", 0)) > 0 for r in records)

    def key(r: dict[str, Any], by_id: bool) -> str:
        base = str(r.get("example_id")) if by_id else str(r.get("index", r.get("example_id")))
        return f"{base}_{int(r.get('sample_idx', 0))}" if multi else base

    by_id = len({key(r, False) for r in records}) < len(records)
    ordered = sorted(records, key=lambda r: (str(r.get("source", "")), int(r.get("index", 0) or 0),
                                             str(r.get("example_id")), int(r.get("sample_idx", 0))))
    return {key(r, by_id): {"question": r.get("question"), "response": r.get("response", ""),
                            "correct_answer": r.get("gold"), "correct": r.get("correct"),
                            "confidence_token": r.get("confidence_token"),
                            "tagged_response": r.get("tagged_response")} for r in ordered}


def write_tagged_outputs(store: RunStore, records: list[dict[str, Any]]) -> list[Path]:
    """tagged.parquet (one row per record) and tagged.json (the seed's shape), both written atomically."""
    import pandas as pd

    from experiments.exports import write_json

    frame = pd.DataFrame([{c: r.get(c) for c in TAGGED_COLUMNS} for r in records], columns=TAGGED_COLUMNS)
    path = store.output_path("tagged.parquet")
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return [path, write_json(store.output_path("tagged.json"), tagged_json(records))]
