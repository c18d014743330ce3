"""Fabricated graded runs for curation tests: real run folders, records written through RunStore."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.runs.store import RunStore


def graded_run(home: Path, verdicts: dict[int, list[bool | None]], model: str = "weak-model",
               source: str = "arith", chunk_size: int = 2, extra: dict[str, Any] | None = None,
               stage: str = "grading") -> RunStore:
    """A done run with one record per (question index, sample): `verdicts[index]` lists each sample's verdict."""
    store = RunStore.create(f'stage = "{stage}"\n', stage, home)
    records = []
    for index, samples in sorted(verdicts.items()):
        for s, ok in enumerate(samples):
            records.append({"example_id": f"{source}-test-{index:06d}", "sample_idx": s, "index": index,
                            "source": source, "model": model, "domain": "gsm8k",
                            "question": f"question {index}?", "gold": str(index), "context": {"k": [1, 2]},
                            "response": f"{model} answer {index}/{s}", "correct": ok,
                            "grade_status": "ok" if ok is not None else "timeout", **(extra or {})})
    indexes = sorted(verdicts)
    for c in range(0, len(indexes), chunk_size):
        mine = set(indexes[c:c + chunk_size])
        store.write_chunk(c // chunk_size, [r for r in records if r["index"] in mine])
    store.update_manifest(status="done")
    return store
