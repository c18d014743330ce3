"""Fabricated runs for TUI and view tests: real run folders (manifest, events, chunks, errors), no model.

Timestamps are fixed so snapshots are deterministic (render them with TZ=UTC).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments.emit import Emitter
from experiments.store import RunStore

BASE_TS = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
DEAD_PID = 99_999_999  # above any pid_max: never alive


def spec_toml(limit: int = 6) -> str:
    """A valid demo spec (so `jobs.resume` can parse it)."""
    from experiments.pipelines import demo_spec
    from experiments.specs import spec_to_toml

    return spec_to_toml(demo_spec(limit=limit))


def sample_records(n: int = 6, graded: bool = True, tagged: bool = False, domain: str = "gsm8k",
                   model: str = "smollm2-135m") -> list[dict[str, Any]]:
    """n records; when graded, verdicts cycle correct, incorrect, ungraded (no answer)."""
    records = []
    for i in range(n):
        gold = str(2 * i)
        answer = gold if i % 3 == 0 else str(2 * i + 1)
        record: dict[str, Any] = {
            "example_id": f"{domain}-test-{i:06d}", "sample_idx": 0, "index": i, "domain": domain,
            "question": f"Question {i}: what is {i} plus {i}?",
            "prompt": f"Question {i}: what is {i} plus {i}?\n\nGive the answer as '#### <number>'.",
            "gold": gold, "model": model,
            "response": f"Adding {i} and {i} step by step gives {answer}.\n#### {answer}",
            "finish_reason": "stop", "prompt_tokens": 20 + i, "completion_tokens": 10 + i,
        }
        if graded:
            if i % 3 == 2:
                record.update(correct=None, extracted=None, grade_status="no_answer",
                              grade_reason="no final answer found")
            else:
                ok = i % 3 == 0
                record.update(correct=ok, extracted=answer, grade_status="ok",
                              grade_reason="match" if ok else f"{answer} != gold {gold}")
        if tagged:
            token = "<CONF_MATH>" if record.get("correct") else "<UN_MATH>"
            record.update(confidence_token=token, tagged_response=f"{token} {record['response']}")
        records.append(record)
    return records


def make_run(home: Path, run_id: str, *, stage: str = "inference", status: str = "done",
             created: float = BASE_TS, title: str = "", records: list[dict[str, Any]] | None = None,
             chunk_size: int = 4, errors: list[tuple[str, str, str]] = (), pids: list[int] | None = None,
             progress: tuple[int, int | None] | None = None, logs: list[str] = (),
             metrics: dict[str, float] | None = None, extra: dict[str, Any] | None = None) -> RunStore:
    """A run folder as a worker would leave it. `status` running with `pids=None` reads as running; with
    `pids=[DEAD_PID]` as interrupted."""
    store = RunStore.create(spec_toml(), stage, home, run_id=run_id)
    records = records or []
    chunks = [records[i:i + chunk_size] for i in range(0, len(records), chunk_size)]
    for index, chunk in enumerate(chunks):
        store.write_chunk(index, chunk)
    for item_id, reason, detail in errors:
        store.add_error(item_id, reason, detail, stage=stage)
    emitter = Emitter(store.events_path, run_id)
    emitter.status("running", "worker 1/1")
    for message in logs:
        emitter.log(message)
    for name, value in (metrics or {}).items():
        emitter.metric(name, value, force=True)
    for item_id, reason, detail in errors:
        emitter.item_error(item_id, reason, detail)
    if progress is not None:
        emitter.progress(progress[0], progress[1], unit="samples", force=True)
    if status != "running":
        emitter.status(status)  # type: ignore[arg-type]
    manifest = store.manifest()
    manifest.update({
        "status": status, "created": created, "updated": created + 5, "title": title, "pids": pids or [],
        "counts": {"records": len(records), "errors": len(errors), "chunks_done": len(chunks)},
        **(extra or {}),
    })
    store.write_manifest(manifest)
    return store


def make_home(home: Path) -> Path:
    """A home with five runs: a done chain (inference -> grading), a running one with bad items, a failed one
    and an interrupted one (dead worker)."""
    from experiments.report import accuracy_table

    ungraded = sample_records(6, graded=False)
    graded = sample_records(6, graded=True, tagged=True)
    make_run(home, "inference-20260528-202640-aaaa", created=BASE_TS, title="demo: gsm8k x6 on smollm2-135m",
             records=ungraded, logs=["6 examples in 2 chunks"], metrics={"model_load_s": 9.7},
             extra={"next_run": "grading-20260528-202740-bbbb",
                    "counts": {"records": 6, "errors": 0, "expected_records": 6, "chunks_done": 2},
                    "summary": {"completion_tokens": 81, "finish_reasons": {"stop": 6}, "records": 6}})
    make_run(home, "grading-20260528-202740-bbbb", stage="grading", created=BASE_TS + 60,
             title="demo: grading", records=graded, extra={"inputs": ["inference-20260528-202640-aaaa"],
                                    "summary": {"accuracy": accuracy_table(graded), "records": 6,
                                                "statuses": {"ok": 4, "no_answer": 2}}})
    make_run(home, "inference-20260528-202840-cccc", status="running", created=BASE_TS + 120,
             title="live: gsm8k x8", records=sample_records(3, graded=False), progress=(3, 8),
             logs=["8 examples in 2 chunks", "model loaded in 2.0s"], metrics={"tokens_per_s": 41.5},
             errors=[("gsm8k-test-000099", "malformed_row", "missing field 'question'"),
                     ("gsm8k-test-000100", "prompt_too_long", "prompt has 9000 tokens > max 4096")])
    make_run(home, "grading-20260528-202940-dddd", stage="grading", status="failed", created=BASE_TS + 180,
             title="grading that failed", errors=[("gsm8k-test-000003", "grader_timeout", "sympy took > 5s")],
             extra={"error": "grader pool crashed"})
    make_run(home, "tagging-20260528-203040-eeee", stage="tagging", status="running", created=BASE_TS + 240,
             title="tagging, worker died", pids=[DEAD_PID], progress=(2, 6))
    return home


async def wait_for(pilot: Any, condition: Callable[[], Any], timeout: float = 5.0) -> None:
    """Let the app run until `condition()` is truthy (workers and timers are asynchronous)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)
    await pilot.pause()


async def settle(pilot: Any) -> None:
    """Wait for running workers, then for the messages they posted."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await asyncio.sleep(0)
    await pilot.pause()
