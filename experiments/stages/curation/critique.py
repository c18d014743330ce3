"""Critique data: solutions of the mixed-result questions turned into right/wrong critique examples.

From each kept question up to `max_per_question` graded solutions are drawn from both models together, without
replacement. The draw is seeded and does not depend on row order: every solution gets a uniform key from a
generator seeded with (seed, crc32 of its example id, role, sample index), and the smallest keys win.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

INSTRUCTION = ("Below is a question and a candidate solution. Explain briefly whether the answer is correct, "
               "then conclude with 'Conclusion: right [END]' or 'Conclusion: wrong [END]'.")
EXAMPLE_COLUMNS = ("example_id", "index", "sample_idx", "role", "source_model", "question", "solution",
                   "ground_truth", "target", "prompt")


def critique_prompt(question: str, solution: str) -> str:
    return f"{INSTRUCTION}\n\nQuestion:\n{question}\n\nCandidate solution:\n{solution}"


def draw_keys(example_ids: Any, roles: Any, sample_idx: Any, seed: int) -> np.ndarray:
    """A reproducible uniform key per solution, independent of the order the rows come in."""
    keys = np.empty(len(example_ids))
    for i, (eid, role, s) in enumerate(zip(example_ids, roles, sample_idx, strict=True)):
        salt = zlib.crc32(f"{eid}\x00{role}\x00{int(s)}".encode())
        keys[i] = np.random.default_rng([seed, salt]).random()
    return keys


def sample_solutions(solutions: Any, max_per_question: int, seed: int) -> Any:
    """Up to `max_per_question` graded solutions per question (both models pooled), seeded."""
    graded = solutions[solutions["correct"].notna()].copy()
    graded["_key"] = draw_keys(graded["example_id"], graded["role"], graded["sample_idx"], seed)
    graded = graded.sort_values(["example_id", "_key"], kind="stable")
    graded = graded[graded.groupby("example_id", sort=False).cumcount() < max_per_question]
    return graded.drop(columns="_key").sort_values(["example_id", "role", "sample_idx"]).reset_index(drop=True)


def critique_examples(solutions: Any, max_per_question: int = 4, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """(examples frame with EXAMPLE_COLUMNS, summary with the right/wrong distribution)."""
    import pandas as pd

    picked = sample_solutions(solutions, max_per_question, seed)
    frame = pd.DataFrame({
        "example_id": picked["example_id"].astype(str),
        "index": picked["index"].astype("Int64"),
        "sample_idx": picked["sample_idx"].astype("int64"),
        "role": picked["role"].astype(str),
        "source_model": picked["model"].fillna("").astype(str),
        "question": picked["question"].fillna("").astype(str),
        "solution": picked["response"].fillna("").astype(str),
        "ground_truth": picked["gold"].fillna("").astype(str),
        "target": np.where(picked["correct"].astype(bool), "right", "wrong"),
    })
    frame["prompt"] = [critique_prompt(q, s) for q, s in zip(frame["question"], frame["solution"], strict=True)]
    per_question = frame.groupby("example_id").size()
    summary = {"examples": len(frame), "questions": int(per_question.size),
               "targets": {t: int((frame["target"] == t).sum()) for t in ("right", "wrong")},
               "by_role": {str(k): int(v) for k, v in frame.groupby("role").size().items()},
               "max_per_question": max_per_question, "seed": seed,
               "per_question": {str(k): int(v) for k, v in per_question.value_counts().sort_index().items()}}
    return frame[list(EXAMPLE_COLUMNS)], summary
