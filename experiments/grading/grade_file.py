"""Grade a JSONL file of responses through the pool, writing results in input order.

The input is streamed and results pass through a reorder buffer, so memory stays bounded by
what is in flight (roughly ``timeout`` seconds of throughput), not by the file size. Output goes
to ``OUT.tmp`` and is renamed at the end, so a crash never leaves a half-written OUT.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from experiments.grading.dispatch import DOMAINS
from experiments.grading.pool import GradeItem, GradingPool
from experiments.grading.verdict import Verdict, error

# Row fields handed to the grader; everything else is only copied to the output.
CONTEXT_KEYS = ("options", "tests", "test_cases", "entry_point", "time_limit", "memory_mb")
RESULT_KEYS = ("correct", "extracted", "status", "reason")
PROGRESS_EVERY_S = 0.1


def _parse_line(n: int, line: str) -> tuple[dict, GradeItem | None, Verdict | None]:
    """(record, item to grade, or an error verdict for a malformed line)."""
    try:
        rec = json.loads(line)
    except ValueError as e:
        return {"line": n}, None, error(f"line {n}: invalid JSON ({e.msg} at column {e.colno})")
    if not isinstance(rec, dict):
        return {"line": n}, None, error(f"line {n}: expected a JSON object, got {type(rec).__name__}")
    missing = [k for k in ("domain", "response", "gold") if rec.get(k) is None]
    if missing:
        return {**rec, "line": n}, None, error(f"line {n}: missing {', '.join(missing)}")
    if rec["domain"] not in DOMAINS:
        return {**rec, "line": n}, None, error(f"line {n}: unknown domain {rec['domain']!r}")
    ctx = {k: rec[k] for k in CONTEXT_KEYS if k in rec}
    if isinstance(rec.get("context"), dict):
        ctx.update(rec["context"])
    gold = rec["gold"] if isinstance(rec["gold"], (str, bool, int, float, list)) else str(rec["gold"])
    return rec, GradeItem(str(rec["domain"]), str(rec["response"]), gold, ctx), None


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def grade_file(
    in_path: str | os.PathLike,
    out_path: str | os.PathLike,
    workers: int = 2,
    timeout: float = 5.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Grade every line of ``in_path`` into ``out_path``; returns a summary dict."""
    in_path, out_path = Path(in_path), Path(out_path)
    total = _count_lines(in_path)
    tmp_path = out_path.with_name(out_path.name + ".tmp")
    records: dict[int, dict] = {}  # row index -> record, until written
    ready: dict[int, Verdict] = {}  # reorder buffer: row index -> verdict
    to_row: dict[int, int] = {}  # pool item index -> row index, while in flight
    statuses: Counter[str] = Counter()
    n_correct = 0
    n_rows = 0
    start = time.perf_counter()

    def items() -> Iterator[GradeItem]:
        nonlocal n_rows
        pool_idx = 0
        with open(in_path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = n_rows
                n_rows += 1
                rec, item, bad = _parse_line(n, line)
                records[row] = rec
                if bad is not None:
                    ready[row] = bad
                    continue
                to_row[pool_idx] = row
                pool_idx += 1
                yield item

    next_row = 0
    last_progress = 0.0
    if progress is not None:
        progress(0, total)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with (
            open(tmp_path, "w", encoding="utf-8") as out,
            GradingPool(workers=workers, timeout=timeout) as pool,
        ):

            def flush() -> None:
                nonlocal next_row, n_correct
                while next_row in ready:
                    v = ready.pop(next_row)
                    rec = records.pop(next_row)
                    rec.update(v.to_dict())
                    out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    statuses[v.status] += 1
                    n_correct += v.correct is True
                    next_row += 1

            for idx, verdict in pool.grade_many(items()):
                ready[to_row.pop(idx)] = verdict
                flush()
                if progress is not None and time.perf_counter() - last_progress >= PROGRESS_EVERY_S:
                    last_progress = time.perf_counter()
                    progress(next_row, total)
            flush()  # trailing malformed lines never pass through the pool
            restarts = pool.restarts
    except BaseException:  # never leave a half-written OUT.tmp behind
        tmp_path.unlink(missing_ok=True)
        raise
    os.replace(tmp_path, out_path)
    elapsed = time.perf_counter() - start
    if progress is not None:
        progress(next_row, total)
    return {
        "total": next_row,
        "correct": n_correct,
        "by_status": {k: statuses.get(k, 0) for k in ("ok", "no_answer", "timeout", "error")},
        "elapsed_s": round(elapsed, 3),
        "answers_per_s": round(next_row / elapsed, 1) if elapsed > 0 else 0.0,
        "worker_restarts": restarts,
        "out_path": str(out_path),
    }
