"""Runs for TUI and view tests: real run folders (manifest, events, chunks, errors) holding records the real stage
code wrote (`tests.stage_records`), no model.

Timestamps are fixed so snapshots are deterministic (render them with TZ=UTC).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments.runs.emit import Emitter
from experiments.runs.store import RunStore
from tests.stage_records import stage_output, stage_records

BASE_TS = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
DEAD_PID = 99_999_999  # above any pid_max: never alive


def spec_toml(limit: int = 6) -> str:
    """A valid inference spec as the demo's first step stores it (so `api.resume` can parse it)."""
    from experiments.demo import demo_spec
    from experiments.specs import spec_to_toml

    return spec_to_toml(demo_spec(limit=limit).model_copy(update={"then": []}))


def sample_records(n: int = 6, graded: bool = True, tagged: bool = False, domain: str = "gsm8k",
                   model: str = "smollm2-135m", judged: bool = False) -> list[dict[str, Any]]:
    """n records as the stages write them (`tests.stage_records`): example i is answered right when i % 3 == 0,
    with a wrong number when 1 and with no number when 2 (the grader's `no_answer`, counted wrong).
    `graded`: after the grading stage; `tagged`: after grading and tagging; `judged`: the judging stage over the
    ungraded inference run (the scripted judge says yes / no / garbage: `invalid_json`, no verdict)."""
    kind = "judged" if judged else "tagged" if tagged else "graded" if graded else "inference"
    return stage_records(kind, n, domain, model)


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
    ungraded = sample_records(6, graded=False)
    graded = sample_records(6, graded=True)
    make_run(home, "inference-20260528-202640-aaaa", created=BASE_TS, title="demo: gsm8k x6 on smollm2-135m",
             records=ungraded, logs=["6 examples in 2 chunks"], metrics={"model_load_s": 9.7},
             extra={"counts": {"records": 6, "errors": 0, "expected_records": 6, "chunks_done": 2},
                    "summary": {"completion_tokens": sum(r["completion_tokens"] for r in ungraded),
                         "finish_reasons": {"stop": 6}, "records": 6}})
    make_run(home, "grading-20260528-202740-bbbb", stage="grading", created=BASE_TS + 60,
             title="demo: grading", records=graded, extra={"inputs": ["inference-20260528-202640-aaaa"],
                                                           "summary": stage_output("grading_summary", 6)})
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


def no_workers(monkeypatch: Any) -> list[tuple[str, list[dict[str, str]]]]:
    """Launches still create real run folders (manifest, spec.toml), but start no worker process: each launch
    is recorded as (run id, the worker groups it would have started)."""
    from experiments.runs import jobs

    launched: list[tuple[str, list[dict[str, str]]]] = []

    def fake_start(store: RunStore, spec: Any, home: Any, registry: Any) -> list[int]:
        launched.append((store.run_id, jobs.worker_groups(spec)))
        store.update_manifest(status="queued")
        return []

    monkeypatch.setattr(jobs, "start_workers", fake_start)
    return launched


async def wait_for(pilot: Any, condition: Callable[[], Any], timeout: float = 15.0) -> None:
    """Let the app run until `condition()` is truthy (workers and timers are asynchronous)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)
    await pilot.pause()


async def settle(pilot: Any, timeout: float = 10.0) -> None:
    """Wait for running workers, then for the messages they posted; again while those started more workers (a
    screen pushed just before mounts, and starts its readers, during the first pause)."""
    deadline = time.monotonic() + timeout
    while True:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await asyncio.sleep(0)
        await pilot.pause()
        if not any(w.is_running for w in pilot.app.workers) or time.monotonic() > deadline:
            return


def steady_cursor(app: Any) -> None:
    """The focused input's cursor stops blinking, so a snapshot never catches it off."""
    if hasattr(app.focused, "cursor_blink"):
        app.focused.cursor_blink = False
