"""Guided records in the reference's shape (plus our ids) and the per-cell summary the grid is made of."""

from __future__ import annotations

from typing import Any

from experiments.datasets import Example
from experiments.stages.guided.spec import GuidedSpec

# The reference implementation's record fields, in its order (`export` writes exactly these plus ids).
REFERENCE_FIELDS = ("c", "k", "base_model_id", "oracle_model_id", "prompt", "result", "ground_truth",
                    "parsed_answer", "interleaved_outputs", "cheat_positions", "total_tokens_generated",
                    "analysis_result", "acc")


def make_record(spec: GuidedSpec, cell: tuple[int, int], ex: Example, sample_idx: int, messages: Any, seq: Any,
                verdict: Any, analysis: list[dict[str, Any]], block_wall_s: float, chunk: int) -> dict[str, Any]:
    c, k = cell
    return {
        "example_id": ex.example_id,
        "sample_idx": sample_idx,
        "index": ex.index,
        "domain": ex.domain,
        "question": ex.question,
        "c": c,
        "k": k,
        "policy": "never" if cell == (0, 0) else "oracle_only" if cell == (-1, -1) else spec.policy,
        "base_model_id": spec.base,
        "oracle_model_id": spec.oracle,
        "prompt": messages[-1]["content"],
        "result": seq.text,
        "ground_truth": str(ex.gold),
        "parsed_answer": verdict.extracted,
        "interleaved_outputs": [dict(s) for s in seq.segments],
        "cheat_positions": list(seq.cheat_positions),
        "total_tokens_generated": seq.base_tokens + seq.oracle_tokens,
        "base_tokens": seq.base_tokens,
        "oracle_tokens": seq.oracle_tokens,
        "finish_reason": seq.finish_reason,
        "analysis_result": analysis,
        "acc": 1 if verdict.correct else 0,
        "correct": bool(verdict.correct),
        "grade_status": verdict.status,
        "block_wall_s": round(block_wall_s, 4),
        "chunk": chunk,
    }


def cell_summary(cell: tuple[int, int], records: list[dict[str, Any]]) -> dict[str, Any]:
    """The grid entry of one cell: the contract with the TUI's heat table (keys fixed)."""
    n = len(records)
    correct = sum(int(r.get("acc", 0)) for r in records)
    tokens = sum(int(r.get("total_tokens_generated", 0)) for r in records)
    walls = {r.get("chunk"): float(r.get("block_wall_s", 0.0)) for r in records}
    wall = sum(walls.values())
    return {
        "c": cell[0],
        "k": cell[1],
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else 0.0,
        "oracle_tokens": sum(int(r.get("oracle_tokens", 0)) for r in records),
        "base_tokens": sum(int(r.get("base_tokens", 0)) for r in records),
        "tokens_per_s": tokens / wall if wall > 0 else 0.0,
    }


def reference_row(record: dict[str, Any]) -> dict[str, Any]:
    """One line of the reference's JSONL (its fields, then our ids so lines can be traced back)."""
    row = {key: record.get(key) for key in REFERENCE_FIELDS}
    row["example_id"], row["sample_idx"] = record.get("example_id"), record.get("sample_idx")
    return row
