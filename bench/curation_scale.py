"""Curation at scale: pass rates, buckets and a threshold change over 1,000,000 questions x 16 samples.

    python bench/curation_scale.py [--questions 1000000] [--samples 16] [--stream-questions 15625]

Builds two synthetic grading runs (weak, strong) whose `outputs/verdicts.parquet` hold questions x samples
verdicts (what grading's finalize writes), then measures in a fresh child process, so peak memory is the
pipeline's own: pass rates of both runs (columnar scan of the parquet), buckets, aligning the two runs for the
Curation screen, and a threshold change (median of 20). It also times the fallback path, pass rates streamed from
JSONL chunks (judged runs, runs graded before verdicts.parquet), on a smaller run and reports records/s.
Goals: pass rates < 10 s, a threshold change < 100 ms, peak memory < 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_run(home: Path, name: str, questions: int, samples: int, seed: int) -> str:
    """A done grading run with only outputs/verdicts.parquet (verdicts drawn around a per-question rate)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from experiments.runs.store import RunStore

    store = RunStore.create('stage = "grading"\n', "grading", home, run_id=name)
    rng = np.random.default_rng(seed)
    p = rng.beta(0.7, 0.7, questions)
    ids = pa.array(np.char.add("synth-test-", np.char.zfill(np.arange(questions).astype(str), 7)))
    writer = None
    path = store.output_path("verdicts.parquet")
    step = max(1, (1 << 20) // samples)
    for start in range(0, questions, step):
        q = np.arange(start, min(questions, start + step))
        correct = rng.random((len(q), samples)) < p[q, None]
        rows = np.repeat(q, samples)
        table = pa.table({"example_id": ids.take(pa.array(rows)), "index": pa.array(rows.astype(np.int64)),
                          "sample_idx": pa.array(np.tile(np.arange(samples, dtype=np.int32), len(q))),
                          "source": pa.array(np.full(len(rows), "synth", dtype=object)),
                          "model": pa.array(np.full(len(rows), name, dtype=object)),
                          "correct": pa.array(correct.ravel())})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    store.update_manifest(status="done")
    return store.run_id


def make_stream_run(home: Path, questions: int, samples: int, chunk: int = 1000) -> str:
    """A grading run with JSONL chunks only (realistic records with a short response) for the fallback path."""
    from experiments.runs.store import RunStore

    store = RunStore.create('stage = "grading"\n', "grading", home, run_id="stream")
    rng = np.random.default_rng(3)
    for c, start in enumerate(range(0, questions, chunk)):
        rows = [{"example_id": f"synth-test-{q:07d}", "sample_idx": s, "index": q, "domain": "math",
                 "source": "synth", "question": f"What is {q} + {s}?", "gold": str(q + s), "model": "m",
                 "response": "The answer is " + str(q + s) + ". " * 40, "correct": bool(rng.random() < 0.5),
                 "grade_status": "ok"}
                for q in range(start, min(questions, start + chunk)) for s in range(samples)]
        store.write_chunk(c, rows)
    store.update_manifest(status="done")
    return store.run_id


def timed(fn: Any) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process): on a shared machine the CPU time is the steadier one."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure(home: Path, stream: bool) -> dict[str, Any]:
    import pyarrow.compute  # noqa: F401 - imports are not what we time
    import pyarrow.json  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from experiments.runs.store import RunStore
    from experiments.stages.curation.buckets import bucket_codes, bucket_counts
    from experiments.stages.curation.passrates import VerdictOptions, compute_passrates
    from experiments.stages.curation.views import CurationView

    opts = VerdictOptions(verdict="rule")
    if stream:
        store = RunStore.open("stream", home)
        records = sum(1 for i in store.done_chunks() for _ in store.chunk_path(i).open("rb"))
        table, wall, cpu = timed(lambda: compute_passrates(store, opts))
        return {"stream_records": records, "stream_questions": table.num_rows, "stream_s": wall, "stream_cpu_s": cpu}
    out: dict[str, Any] = {}
    weak, out["passrates_weak_s"], out["passrates_weak_cpu_s"] = timed(
        lambda: compute_passrates(RunStore.open("weak", home), opts))
    strong, out["passrates_strong_s"], out["passrates_strong_cpu_s"] = timed(
        lambda: compute_passrates(RunStore.open("strong", home), opts))
    counts, out["buckets_s"], out["buckets_cpu_s"] = timed(
        lambda: bucket_counts(bucket_codes(weak.column("rate").to_numpy())))
    out["bucket_counts"] = counts.tolist()
    view, out["align_s"], out["align_cpu_s"] = timed(lambda: CurationView.from_tables(weak, strong, "w", "s"))
    walls, cpus = [], []
    for i in range(20):
        state, wall, cpu = timed(lambda i=i: view.apply(0.05 * (i % 5), 1.0 - 0.05 * (i % 4)))
        walls.append(wall)
        cpus.append(cpu)
    out["threshold_ms_median"] = 1000 * float(np.median(walls))
    out["threshold_ms_max"] = 1000 * float(np.max(walls))
    out["threshold_cpu_ms_median"] = 1000 * float(np.median(cpus))
    out["questions"] = weak.num_rows
    out["kept_at_last_thresholds"] = state.kept
    return out


def child(home: Path, stream: bool) -> dict[str, float]:
    """Run `measure` in a fresh interpreter: its peak RSS is the pipeline's alone."""
    cmd = [sys.executable, __file__, "--measure", str(home)] + (["--stream"] if stream else [])
    result = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--stream-questions", type=int, default=15_625)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        figures = measure(args.measure, args.stream)
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        started = time.perf_counter()
        make_run(home, "weak", args.questions, args.samples, 1)
        make_run(home, "strong", args.questions, args.samples, 2)
        make_stream_run(home, args.stream_questions, args.samples)
        print(f"synthetic runs built in {time.perf_counter() - started:.1f}s "
              f"({args.questions} questions x {args.samples} samples, two runs)")
        scale = child(home, stream=False)
        stream = child(home, stream=True)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wall (CPU) time")
    print(f"pass rates (verdicts.parquet scan), weak run: {scale['passrates_weak_s']:.2f} s "
          f"({scale['passrates_weak_cpu_s']:.2f} s CPU)   goal < 10 s")
    print(f"pass rates, strong run:                       {scale['passrates_strong_s']:.2f} s "
          f"({scale['passrates_strong_cpu_s']:.2f} s CPU)")
    print(f"buckets of {scale['questions']} rates:               {1000 * scale['buckets_s']:.1f} ms "
          f"({1000 * scale['buckets_cpu_s']:.1f} ms CPU)   counts {scale['bucket_counts']}")
    print(f"align weak/strong for the screen:             {scale['align_s']:.2f} s "
          f"({scale['align_cpu_s']:.2f} s CPU, once per pair)")
    print(f"threshold change: median {scale['threshold_ms_median']:.1f} ms "
          f"({scale['threshold_cpu_ms_median']:.1f} ms CPU), max {scale['threshold_ms_max']:.1f} ms   goal < 100 ms")
    print(f"peak memory of the measuring process:         {scale['peak_rss_mb']:.0f} MB   goal < 2048 MB")
    print(f"fallback, pass rates streamed from JSONL chunks: {stream['stream_records']} records in "
          f"{stream['stream_s']:.2f} s ({stream['stream_cpu_s']:.2f} s CPU) = "
          f"{stream['stream_records'] / stream['stream_s']:.0f} records/s, peak {stream['peak_rss_mb']:.0f} MB")

if __name__ == "__main__":
    main()
