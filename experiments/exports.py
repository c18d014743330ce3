"""Exports of runs to the seed scripts' JSON shapes.

- predictions: `{"<index>": {"response", "question", "correct_answer"}}` (one inference run, sample 0; with n>1
  all samples are listed under `responses`);
- merged: per-model JSON, records of one or more runs grouped by model and sorted by example index;
- reviewed: the records a person reviewed, with rule, judge and human verdicts (`experiments.reviews.export`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from experiments.runs.atomic import write_text_atomic
from experiments.runs.store import RunStore


def predictions(store: RunStore) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for record in sorted(store.records(), key=lambda r: (int(r.get("index", 0)), int(r.get("sample_idx", 0)))):
        key = str(record.get("index", record["example_id"]))
        entry = out.setdefault(key, {"response": record.get("response", ""), "question": record.get("question"),
                                     "correct_answer": record.get("gold"), "responses": []})
        entry["responses"].append(record.get("response", ""))
        for field in ("correct", "confidence_token", "tagged_response"):
            if field in record and record.get("sample_idx", 0) == 0:
                entry[field] = record[field]
    for entry in out.values():
        if len(entry["responses"]) == 1:
            del entry["responses"]
    return out


def merged_by_model(stores: list[RunStore]) -> dict[str, list[dict[str, Any]]]:
    models: dict[str, list[dict[str, Any]]] = {}
    for store in stores:
        for record in store.iter_records():
            models.setdefault(str(record.get("model", "unknown")), []).append(record)
    for rows in models.values():
        rows.sort(key=lambda r: (str(r.get("source", "")), int(r.get("index", 0)), int(r.get("sample_idx", 0))))
    return models


def write_json(path: Path, obj: Any) -> Path:
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def export_run(stores: list[RunStore], fmt: str, out: Path) -> list[Path]:
    """Write the export; `merged` writes one file per model into `out` (a folder)."""
    if fmt == "predictions":
        if len(stores) != 1:
            raise ValueError("the predictions export takes exactly one run")
        return [write_json(out, predictions(stores[0]))]
    if fmt == "merged":
        out.mkdir(parents=True, exist_ok=True)
        return [write_json(out / f"{model.replace('/', '_')}.json", rows)
                for model, rows in merged_by_model(stores).items()]
    if fmt == "reviewed":
        from experiments.reviews.export import write_reviewed

        if len(stores) != 1:
            raise ValueError("the reviewed export takes exactly one run")
        return [write_reviewed(stores[0], out)[0]]
    raise ValueError(f"unknown export format {fmt!r} (predictions, merged, reviewed)")
