"""Annotate a source table with a weak and a strong model's pass rates, and filter it by two thresholds.

Row i of a source file is the question whose records have `index` i (that is how inference numbers rows), so
rates are aligned by a dense lookup array: O(rows), no joins. Dropped, with the reason per row:
`low_pass_rate <= low_thresh` (the weak model too rarely right), `high_pass_rate >= high_thresh` (the strong
model too often right), both inclusive; a row either model never answered is dropped as `no_pass_rate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

LOW, HIGH = "low_pass_rate", "high_pass_rate"
NO_RATE = "no_pass_rate"


def merged_rates(tables: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(index, rate) over the pass-rate tables of one model's runs; an index seen in several runs pools its
    samples (correct / graded summed)."""
    if not tables:
        return np.zeros(0, np.int64), np.zeros(0)
    index = np.concatenate([t.column("index").fill_null(-1).to_numpy() for t in tables]).astype(np.int64)
    graded = np.concatenate([t.column("graded").to_numpy() for t in tables]).astype(np.float64)
    right = np.concatenate([t.column("correct").to_numpy() for t in tables]).astype(np.float64)
    keep = index >= 0
    index, graded, right = index[keep], graded[keep], right[keep]
    uniq, inverse = np.unique(index, return_inverse=True)
    g = np.bincount(inverse, weights=graded, minlength=len(uniq))
    c = np.bincount(inverse, weights=right, minlength=len(uniq))
    with np.errstate(invalid="ignore", divide="ignore"):
        return uniq, np.where(g > 0, c / np.maximum(g, 1), np.nan)


def align(keys: np.ndarray, index: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Rate per key (NaN where the runs have no such index)."""
    size = int(max(keys.max(initial=-1), index.max(initial=-1))) + 1
    dense = np.full(size, np.nan)
    dense[index] = rate
    out = np.full(len(keys), np.nan)
    ok = keys >= 0
    out[ok] = dense[keys[ok]]
    return out


def keep_mask(low: np.ndarray, high: np.ndarray, low_thresh: float, high_thresh: float) -> np.ndarray:
    """Rows kept: low_pass_rate > low_thresh and high_pass_rate < high_thresh (NaN never passes)."""
    return (low > low_thresh) & (high < high_thresh)


def drop_reasons(low: np.ndarray, high: np.ndarray, low_thresh: float, high_thresh: float) -> np.ndarray:
    """A reason string per row ('' for kept rows), vectorised."""
    too_hard = low <= low_thresh
    too_easy = high >= high_thresh
    missing = np.isnan(low) | np.isnan(high)
    reasons = np.full(len(low), "", dtype=object)
    reasons[too_hard] = f"{LOW} <= {low_thresh:g}"
    reasons[too_easy] = f"{HIGH} >= {high_thresh:g}"
    reasons[too_hard & too_easy] = f"{LOW} <= {low_thresh:g} and {HIGH} >= {high_thresh:g}"
    reasons[missing] = NO_RATE
    return reasons


def read_source(path: str | Path) -> Any:
    """The source table (parquet, or JSONL/CSV through pandas) as a pyarrow table."""
    import pyarrow as pa

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"source file {path} does not exist")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    import pandas as pd

    frame = pd.read_json(path, lines=True) if path.suffix in (".jsonl", ".ndjson") else pd.read_csv(path)
    return pa.Table.from_pandas(frame, preserve_index=False)


def annotate(table: Any, keys: np.ndarray, weak: tuple[np.ndarray, np.ndarray],
             strong: tuple[np.ndarray, np.ndarray]) -> Any:
    """`table` plus low_pass_rate (weak model) and high_pass_rate (strong model) columns."""
    import pyarrow as pa

    for name in (LOW, HIGH):
        if name in table.column_names:
            table = table.drop_columns([name])
    table = table.append_column(LOW, pa.array(align(keys, *weak)))
    return table.append_column(HIGH, pa.array(align(keys, *strong)))


def apply_filter(table: Any, ids: list[Any], low_thresh: float, high_thresh: float) -> tuple[Any, dict[str, Any]]:
    """(kept rows, summary with kept ids and each dropped id's reason). `ids` name the rows in the summary."""
    import pyarrow as pa

    low = table.column(LOW).to_numpy(zero_copy_only=False).astype(np.float64)
    high = table.column(HIGH).to_numpy(zero_copy_only=False).astype(np.float64)
    mask = keep_mask(low, high, low_thresh, high_thresh)
    reasons = drop_reasons(low, high, low_thresh, high_thresh)
    kept = table.filter(pa.array(mask))
    dropped_at = np.flatnonzero(~mask)
    counts: dict[str, int] = {}
    for reason in reasons[dropped_at]:
        counts[reason] = counts.get(reason, 0) + 1
    summary = {"low_thresh": low_thresh, "high_thresh": high_thresh, "rows": table.num_rows,
               "kept_count": int(mask.sum()), "dropped_count": len(dropped_at), "dropped_by_reason": counts,
               "kept": [ids[i] for i in np.flatnonzero(mask)],
               "dropped": [{"id": ids[i], "reason": reasons[i]} for i in dropped_at]}
    return kept, summary
