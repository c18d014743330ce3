"""Row readers for local files (JSONL, JSON, Parquet, CSV), tolerant of malformed lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from experiments.datasets.extract import to_plain

RowOrError = tuple[int, dict[str, Any] | None, str]  # (row index, row or None, error detail)


def detect_format(path: Path, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    suffix = path.suffix.lower()
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(
        suffix, "jsonl"
    )


def iter_jsonl(path: Path) -> Iterator[RowOrError]:
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for index, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield index, None, f"line {index + 1}: invalid JSON ({exc.msg})"
                continue
            if not isinstance(row, dict):
                yield index, None, f"line {index + 1}: expected an object, got {type(row).__name__}"
                continue
            yield index, row, ""


def iter_json(path: Path) -> Iterator[RowOrError]:
    """A JSON list of objects, or an object of objects keyed by index (the seeds' predictions shape).

    A `.json` file that is really JSON Lines is read as such; `{"data": [...]}` wrappers are unwrapped.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError:
        yield from iter_jsonl(path)
        return
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    items = list(data.values()) if isinstance(data, dict) else data if isinstance(data, list) else [data]
    for index, row in enumerate(items):
        if isinstance(row, dict):
            yield index, row, ""
        else:
            yield index, None, f"item {index}: expected an object, got {type(row).__name__}"


def iter_table(path: Path, fmt: str) -> Iterator[RowOrError]:
    """Parquet/CSV rows as plain Python (nested columns become dicts and lists, not numpy arrays).

    CSV cells stay strings (an answer "007" keeps its zeros) and empty cells read as "" (a missing value).
    """
    import pandas as pd

    if fmt == "parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for index, row in enumerate(frame.to_dict(orient="records")):
        yield index, to_plain(row), ""


def iter_files(paths: list[Path], fmt: str = "auto") -> Iterator[RowOrError]:
    """Rows of several files as one dataset: indices run on across files, so ids stay unique and stable."""
    base = 0
    for path in paths:
        last = -1
        for index, row, error in iter_rows(path, fmt):
            last = index
            yield base + index, row, error
        base += last + 1


def count_rows(path: Path, fmt: str = "auto") -> int:
    """Rows in a local file, cheaply where the format allows (parquet metadata, non-blank JSONL lines)."""
    fmt = detect_format(path, fmt)
    if fmt == "jsonl":
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return sum(1 for _ in iter_rows(path, fmt))


def iter_rows(path: Path, fmt: str = "auto") -> Iterator[RowOrError]:
    fmt = detect_format(path, fmt)
    if fmt == "jsonl":
        return iter_jsonl(path)
    if fmt == "json":
        return iter_json(path)
    if fmt in ("parquet", "csv"):
        return iter_table(path, fmt)
    raise ValueError(f"unknown dataset format {fmt!r} (jsonl, json, parquet, csv)")
