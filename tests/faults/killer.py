"""Kill -9 a run's worker at seeded event counts, resume it, and compare with an uninterrupted run.

Kill points are cumulative counts of *work* events (`emit.is_work`: every event but `status`, `log` and `chunk
skipped`, which each attempt writes again; or of one kind, e.g. `chunk`), over the run and, for a pipeline, its
step runs. A seeded RNG draws `kills` distinct points below the reference run's count. Each attempt is started
with the failpoint `CONFCONSOLE_FAULT_KILL_AT=N:DELAY[:KIND]` (see `experiments.runs.emit.Failpoint`): N = the
next point minus the events already on disk, DELAY 0 or a seeded 0-5 ms (at the latest the next work event), so
the worker's process group gets SIGKILL just after that event, wherever the worker then is (SFT counts training
steps instead: see test_kill_sft). The run must read `interrupted`; it is resumed with the next point, and after
the last one resumed to the end and compared once with one uninterrupted reference run of the same spec."""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments import api
from experiments.runs.emit import FAILPOINT_ENV, event_kind, is_work
from experiments.runs.events import ChunkEvent
from experiments.runs.state import EventTail
from experiments.runs.store import RunStore, record_key
from experiments.runs.worker import run_attempt
from experiments.stages import STAGES

ROWS: list[dict[str, Any]] = []  # one per stage test: the closing note's table


def reference_run(spec: Any, home: Path) -> RunStore:
    """The uninterrupted run, in this process: the same `run_attempt` a worker process runs."""
    store, _ = api.prepare(spec, home)
    run_attempt(store, STAGES, home=home)
    assert store.effective_status() == "done", store.manifest().get("error")
    return store


class Watch:
    """Reads a run's events and, for a pipeline, its step runs' (found in its manifest as they are created);
    counts work events (of `kind` only, when given: `chunk`, `metric:loss`, ...)."""

    def __init__(self, store: RunStore, home: Path, kind: str = "") -> None:
        self.store, self.home, self.kind = store, home, kind
        self.tails: dict[str, EventTail] = {store.run_id: EventTail(store.events_path)}
        self.work = self.total = 0
        self.computed: Counter[tuple[str, int]] = Counter()

    def poll(self) -> int:
        for info in (self.store.manifest().get("steps") or {}).values():
            run_id = info.get("run_id")
            if run_id and run_id not in self.tails:
                self.tails[run_id] = EventTail(RunStore.open(run_id, self.home).events_path)
        for run_id, tail in self.tails.items():
            for event in tail.poll():
                self.total += 1
                self.work += is_work(event) and (not self.kind or event_kind(event) == self.kind)
                if isinstance(event, ChunkEvent) and event.action == "computed":
                    self.computed[(run_id, event.index)] += 1
        return self.work


def plan_kills(reference: RunStore, home: Path, seed: int, kills: int = 5, kind: str = "",
               share: float = 0.8) -> list[int]:
    """`kills` seeded points below `share` x the reference's count (of `kind`). Counting all work events, the last
    fifth is left as room for a delayed kill before the run ends; counting chunks, every chunk but the last may
    be a point (`share` 1.0: the kill lands with chunks still to do)."""
    total = Watch(reference, home, kind).poll()
    top = max(kills + 1, int(total * share))
    return sorted(random.Random(seed).sample(range(1, top), kills))


@dataclass
class Kill:
    point: int  # the planned cumulative work-event count
    armed: int  # N handed to the attempt's failpoint
    delay: float
    status: str  # the run's status when the attempt ended ("interrupted": the fault landed)


@dataclass
class FaultRun:
    run_id: str
    kills: list[Kill] = field(default_factory=list)
    resumes: int = 0
    watch: Watch | None = None
    seconds: float = 0.0

    @property
    def landed(self) -> int:
        return sum(k.status == "interrupted" for k in self.kills)


def armed(count: int, delay: float, start: Callable[[], str], kind: str = "") -> str:
    """Start an attempt (launch or resume) whose worker kills itself after its `count`th work event (of `kind`)."""
    os.environ[FAILPOINT_ENV] = f"{count}:{delay:.4f}:{kind}"
    try:
        return start()
    finally:
        del os.environ[FAILPOINT_ENV]  # only the workers started above carry it


def wait_ended(store: RunStore, deadline: float) -> str:
    while (status := store.effective_status()) in ("running", "queued"):
        assert time.monotonic() < deadline, f"{store.run_id} still {status}"
        time.sleep(0.02)
    return status


def run_with_kills(spec: Any, home: Path, points: list[int], seed: int, timeout: float = 300.0,
                   launch: Callable[[], str] | None = None, kind: str = "",
                   to_go: Callable[[int, str], int] | None = None) -> FaultRun:
    """Launch `spec` (or call `launch`, which returns the run id), kill its worker at each point (resuming after
    each), then let it finish. By default a point is a cumulative count of work events; `kind` and `to_go(point,
    run_id) -> N` (the attempt's own count to kill at) let a test count something else, e.g. training steps."""
    started = deadline = time.monotonic()
    deadline += timeout
    rng = random.Random(seed)
    out = FaultRun("")
    for point in points:
        if to_go is not None:
            count = max(1, to_go(point, out.run_id))
        else:
            count = max(1, point - (Watch(RunStore.open(out.run_id, home), home, kind).poll() if out.run_id else 0))
        delay = rng.choice([0.0, rng.uniform(0.0, 0.005)])
        if out.run_id:
            armed(count, delay, lambda: api.resume(out.run_id, home), kind)
            out.resumes += 1
        else:
            out.run_id = armed(count, delay, launch or (lambda: api.launch(spec, home)), kind)
        run_id = out.run_id
        status = wait_ended(RunStore.open(run_id, home), deadline)
        out.kills.append(Kill(point, count, round(delay, 4), status))
        if status != "interrupted":
            break  # it finished before the kill: nothing to resume
    store = RunStore.open(run_id, home)
    if store.effective_status() != "done":
        api.resume(run_id, home)
        out.resumes += 1
    final = wait_ended(store, deadline)
    out.watch = Watch(store, home)
    out.watch.poll()
    out.seconds = time.monotonic() - started
    assert final == "done", (final, store.manifest().get("error"), store.log_path.read_text()[-3000:])
    return out


# -- comparison ----------------------------------------------------------------------------------------------
def strict_records(store: RunStore) -> list[dict[str, Any]]:
    """Every chunk read strictly: a torn or partial line fails here (readers elsewhere skip one quietly)."""
    rows = []
    for index in store.done_chunks():
        text = store.chunk_path(index).read_text()
        assert text.endswith("\n"), f"chunk {index} of {store.run_id} is cut"
        rows += [json.loads(line) for line in text.splitlines()]
    return sorted(rows, key=record_key)


def compare(reference: RunStore, faulted: RunStore, fields: tuple[str, ...],
            key: tuple[str, ...] = ("example_id", "sample_idx")) -> tuple[int, int]:
    """(records compared, records lost). Same ids, no duplicates, the same `fields`, the same bad items."""
    def ident(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row.get(k) for k in key)

    want = sorted(strict_records(reference), key=ident)
    got = sorted(strict_records(faulted), key=ident)
    keys = [ident(r) for r in got]
    assert len(keys) == len(set(keys)), f"duplicate records in {faulted.run_id}"
    lost = len({ident(r) for r in want} - set(keys))
    assert [ident(r) for r in want] == keys, f"{faulted.run_id}: ids differ from the uninterrupted run"
    for a, b in zip(want, got, strict=True):
        for name in fields:
            assert a.get(name) == b.get(name), (ident(a), name, a.get(name), b.get(name))
    assert sorted((e["item_id"], e["reason"]) for e in reference.errors()) == \
        sorted((e["item_id"], e["reason"]) for e in faulted.errors()), "bad items differ"
    assert not list(faulted.chunks_dir.glob(".*")), "a temporary chunk file was left behind"
    return len(want), lost


def computed_once(run: FaultRun) -> None:
    """Chunks are all or nothing: a chunk written before a kill is skipped after it, never computed again."""
    assert run.watch is not None
    twice = {key: n for key, n in run.watch.computed.items() if n > 1}
    assert not twice, f"chunks computed more than once: {twice}"


def report(stage: str, run: FaultRun, compared: int, lost: int, **extra: Any) -> None:
    row = {"stage": stage, "faults": run.landed, "resumes": run.resumes, "compared": compared, "lost": lost,
           "points": [k.point for k in run.kills], "armed": [k.armed for k in run.kills],
           "seconds": round(run.seconds, 1), **extra}
    ROWS.append(row)
    print("FAULTS " + json.dumps(row))
