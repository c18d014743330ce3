"""Read-only views over runs for the TUI (and anything else): run rows, progress text, run header, summary.

Plain Python, no Textual: screens call these from thread workers and only render what comes back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from experiments.runs.state import EventTail, RunState, age, format_eta
from experiments.runs.store import RunStore, status_of

ACTIVE = ("running", "queued")


# -- runs ----------------------------------------------------------------------------------------------------
def progress_text(done: int | None, total: int | None, unit: str = "") -> str:
    """`3/8 (38%)`, or just the count when the total is unknown."""
    if done is None:
        return ""
    unit = f" {unit}" if unit else ""
    if not total:
        return f"{done}{unit}"
    return f"{done}/{total}{unit} ({min(1.0, done / total):.0%})"


@dataclass(frozen=True)
class RunRow:
    """One line of the runs table. A pipeline's steps follow it with `depth` 1 and their `step` name; a step whose
    run does not exist yet has the id `<pipeline>/<step>` and status `pending`."""

    id: str
    stage: str
    status: str
    progress: str
    records: int | None
    errors: int | None
    created: str
    title: str
    metric: str = ""
    depth: int = 0
    step: str = ""
    run_id: str = ""  # the run to open ("" for a pending step)

    def cells(self) -> tuple[str, ...]:
        """Everything but the status, as display strings, in column order after the status."""
        return (self.progress, _num(self.records), _num(self.errors), self.metric, self.created, self.title)

    @property
    def label(self) -> str:
        """The id column: a step shows as a branch of its pipeline."""
        return f"  └ {self.step}" if self.depth else self.id


def _num(value: int | None) -> str:
    return "" if value is None else str(value)


class RunsIndex:
    """The runs table's data. An `EventTail` per unfinished run, so live progress costs one small read."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = home
        self._live: dict[str, tuple[EventTail, RunState]] = {}

    def state(self, store: RunStore) -> RunState:
        tail, state = self._live.get(store.run_id) or (EventTail(store.events_path), RunState())
        self._live[store.run_id] = (tail, state)
        for event in tail.poll():
            state.consume(event)
        return state

    def rows(self) -> list[RunRow]:
        """Newest first; each pipeline followed by its steps in order (a step is never listed twice)."""
        stores = RunStore.list(self.home)
        by_id = {s.run_id: s for s in stores}
        manifests = {s.run_id: s.manifest() for s in stores}
        nested = {rid for rid, m in manifests.items() if m.get("pipeline") in by_id}
        rows = []
        for store in stores:
            if store.run_id in nested:
                continue
            rows.append(self.row(store, manifests[store.run_id]))
            if manifests[store.run_id].get("stage") == "pipeline":
                rows += self.step_rows(store.run_id, manifests[store.run_id], by_id, manifests)
        for gone in set(self._live) - set(by_id):
            del self._live[gone]
        return rows

    def step_rows(self, pipeline: str, manifest: dict[str, Any], by_id: dict[str, RunStore],
                  manifests: dict[str, dict[str, Any]]) -> list[RunRow]:
        steps = manifest.get("steps") or {}
        out = []
        for name in manifest.get("step_order") or []:
            info = steps.get(name) or {}
            run_id = str(info.get("run_id") or "")
            if run_id in by_id:
                row = self.row(by_id[run_id], manifests[run_id])
                out.append(replace(row, depth=1, step=name, title=run_id))
            else:
                out.append(RunRow(id=f"{pipeline}/{name}", stage=str(info.get("stage", "")), status="pending",
                                  progress="", records=None, errors=None, created="", title="not started yet",
                                  depth=1, step=name))
        return out

    def row(self, store: RunStore, manifest: dict[str, Any] | None = None) -> RunRow:
        manifest = manifest if manifest is not None else store.manifest()
        status = status_of(manifest)
        counts = manifest.get("counts") or {}
        records = counts.get("records")
        errors = counts.get("errors")
        if manifest.get("stage") == "pipeline":  # a run of runs: its steps, not its (empty) records
            steps = manifest.get("steps") or {}
            done = sum(1 for s in steps.values() if s.get("status") == "done")
            progress = progress_text(done, len(manifest.get("step_order") or steps) or None, "steps")
            records = errors = None
        elif status == "done":
            self._live.pop(store.run_id, None)
            expected = counts.get("expected_records")
            progress = progress_text(records or 0, expected) if expected else progress_text(records, None)
        else:
            state = self.state(store)
            if state.total or state.done:
                progress = progress_text(state.done, state.total)
            elif counts.get("chunks_total"):
                progress = progress_text(counts.get("chunks_done", 0), counts["chunks_total"], "chunks")
            else:
                progress = ""
            if errors is None and state.error_count:
                errors = state.error_count
        return RunRow(id=store.run_id, stage=str(manifest.get("stage", "")), status=status, progress=progress,
                      records=records, errors=errors, created=age(manifest.get("created")),
                      title=str(manifest.get("title", "")), metric=key_metric(manifest), run_id=store.run_id)


def _pct(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else "-"


def overall_accuracy(rows: list[dict[str, Any]]) -> float | None:
    """Correct over graded, summed over an accuracy table's (model, domain) rows."""
    graded = sum(int(r.get("graded") or 0) for r in rows)
    return sum(int(r.get("correct") or 0) for r in rows) / graded if graded else None


def key_metric(manifest: dict[str, Any]) -> str:
    """The one figure a finished run is known by, per stage (the runs table and a pipeline's tree)."""
    summary = manifest.get("summary") or {}
    stage = manifest.get("stage")
    if not summary:
        return ""
    if stage == "pipeline":
        steps = summary.get("steps") or []
        return f"{sum(1 for s in steps if s.get('status') == 'done')}/{len(steps)} steps"
    if stage == "evaluation":
        auroc = summary.get("auroc")
        at_t = summary.get("calibration_accuracy_at_threshold")
        return (f"cal {_pct(summary.get('calibration_accuracy'))}"
                + ("" if at_t is None else f" · at t {_pct(at_t)}")
                + f" · AUROC {'-' if auroc is None else f'{auroc:.2f}'}")
    if stage == "delegation":
        rows = summary.get("performance") or []
        best = max((r for r in rows if r.get("accuracy") is not None), key=lambda r: r["accuracy"], default=None)
        return f"best {_pct(best['accuracy'])} ({best['system'][:24]})" if best else ""
    if stage == "sft":
        loss, val = summary.get("final_loss"), summary.get("final_val_loss")
        return "" if loss is None else f"loss {loss:.3f}" + ("" if val is None else f" · val {val:.3f}")
    if stage == "guided":
        return f"{len(summary.get('grid') or [])} cells"
    if summary.get("accuracy"):
        acc = f"acc {_pct(overall_accuracy(summary['accuracy']))}"
        tokens = summary.get("tokens") or {}
        return acc + (" · " + " ".join(f"{k} {v}" for k, v in sorted(tokens.items())) if tokens else "")
    if stage == "curation" and "kept" in summary:
        kept = summary["kept"]
        return f"kept {len(kept) if isinstance(kept, list) else kept}"
    return ""


def run_info(manifest: dict[str, Any], status: str, lineage: bool = True) -> list[tuple[str, str]]:
    """Header fields of a run: (label, value), empty values left out. `lineage=False` leaves out the pipeline and
    inputs (the Run screen shows them on their own line, as links)."""
    fields = [
        ("run", str(manifest.get("id", ""))),
        ("stage", str(manifest.get("stage", ""))),
        ("status", status),
        ("title", str(manifest.get("title", ""))),
        ("pipeline", " · ".join(filter(None, [str(manifest.get("pipeline") or ""), str(manifest.get("step") or "")]))),
        ("inputs", ", ".join(manifest.get("inputs") or [])),
        ("group", str(manifest.get("group") or "")),
        ("created", age(manifest.get("created"))),
        ("error", str(manifest.get("error") or "")),
        ("layout", str(manifest.get("layout_warning") or "")),
        ("retries", retries_text(manifest)),
    ]
    return [(k, v) for k, v in fields if v and (lineage or k not in ("pipeline", "inputs"))]


def retries_text(manifest: dict[str, Any]) -> str:
    """`7 (http_429 4, timeout 3)`: the run's API retries per reason, all attempts together; "" when none."""
    counts = {k: int(v) for k, v in (manifest.get("retries") or {}).items() if v}
    if not counts:
        return ""
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{sum(counts.values())} ({parts})"


def progress_line(state: RunState, status: str | None = None) -> str:
    """`12/40 samples (30%) · 3.2/s · ETA 00:09` while running; just the count otherwise."""
    parts = [progress_text(state.done, state.total, state.unit) or f"0 {state.unit}"]
    if (status or state.status) != "running":  # the manifest's effective status wins (interrupted)
        return parts[0]
    if state.rate:
        parts.append(f"{state.rate:.2f}/s" if state.rate < 10 else f"{state.rate:.0f}/s")
    parts.append(f"ETA {format_eta(state.eta_seconds)}")
    return " · ".join(parts)


def format_metrics(state: RunState) -> str:
    """The latest value of each metric, sorted by name."""
    parts = []
    for name in sorted(state.metrics):
        value = state.latest_metric(name)
        if value is not None:
            parts.append(f"{name} {value:.3g}" if abs(value) < 1000 else f"{name} {value:.0f}")
    return " · ".join(parts)


def format_accuracy_compact(rows: list[dict[str, Any]]) -> str:
    """Like `report.format_accuracy`, with columns only as wide as their contents (fits a side pane)."""
    header = ("model", "domain", "n", "graded", "correct", "accuracy")
    body = [(str(r.get("model", "")), str(r.get("domain", "")), str(r.get("n", "")), str(r.get("graded", "")),
             str(r.get("correct", "")), "-" if r.get("accuracy") is None else f"{r['accuracy']:.1%}")
            for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: tuple[str, ...]) -> str:
        cells = zip(line, widths, strict=True)
        return " ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(cells))

    rule = "-" * (sum(widths) + len(widths) - 1)
    return "\n".join([fmt(header), rule, *map(fmt, body)])


def summary_text(manifest: dict[str, Any]) -> str:
    """The finished run's summary: accuracy table, token and finish-reason counts, anything else scalar."""
    summary = manifest.get("summary") or {}
    if not summary:
        return ""
    lines = []
    rows = summary.get("accuracy")
    table = isinstance(rows, list) and all(isinstance(r, dict) for r in rows)  # evaluation's is one number
    if table and rows:
        lines += [format_accuracy_compact(rows), ""]
    for key in sorted(summary):
        value = summary[key]
        if key == "accuracy" and table:
            continue
        if isinstance(value, dict):
            inner = ", ".join(f"{k}: {v}" for k, v in sorted(value.items()))
            lines.append(f"{key}: {inner}")
        elif not isinstance(value, list):
            lines.append(f"{key}: {value}")
    return "\n".join(lines).strip()


def error_cells(error: dict[str, Any], width: int = 80) -> tuple[str, str, str]:
    detail = " ".join(str(error.get("detail", "")).split())
    return (str(error.get("item_id", "")), str(error.get("reason", "")), clip(detail, width))


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
