"""Read-only views over runs for the TUI (and anything else): rows, progress text, record filters, paging.

Plain Python, no Textual: screens call these from thread workers and only render what comes back. Records are
streamed chunk by chunk, so a huge run is never loaded whole.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from experiments.runstate import EventTail, RunState, age, format_eta
from experiments.store import RunStore, status_of

ACTIVE = ("running", "queued")
VERDICTS = ("all", "correct", "incorrect", "ungraded")
PREVIEW = 60


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
    id: str
    stage: str
    status: str
    progress: str
    records: int | None
    errors: int | None
    created: str
    title: str

    def cells(self) -> tuple[str, ...]:
        """Everything but the status, as display strings, in column order after the status."""
        return (self.progress, _num(self.records), _num(self.errors), self.created, self.title)


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
        rows = []
        seen = set()
        for store in RunStore.list(self.home):
            seen.add(store.run_id)
            rows.append(self.row(store))
        for gone in set(self._live) - seen:
            del self._live[gone]
        return rows

    def row(self, store: RunStore) -> RunRow:
        manifest = store.manifest()
        status = status_of(manifest)
        counts = manifest.get("counts") or {}
        records = counts.get("records")
        errors = counts.get("errors")
        if status == "done":
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
                      title=str(manifest.get("title", "")))


def run_info(manifest: dict[str, Any], status: str) -> list[tuple[str, str]]:
    """Header fields of the Run screen: (label, value), empty values left out."""
    fields = [
        ("run", str(manifest.get("id", ""))),
        ("stage", str(manifest.get("stage", ""))),
        ("status", status),
        ("title", str(manifest.get("title", ""))),
        ("inputs", ", ".join(manifest.get("inputs") or [])),
        ("next", str(manifest.get("next_run") or "")),
        ("group", str(manifest.get("group") or "")),
        ("created", age(manifest.get("created"))),
        ("error", str(manifest.get("error") or "")),
        ("next error", str(manifest.get("next_error") or "")),
        ("layout", str(manifest.get("layout_warning") or "")),
    ]
    return [(k, v) for k, v in fields if v]


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
    if rows:
        lines += [format_accuracy_compact(rows), ""]
    for key in sorted(summary):
        value = summary[key]
        if key == "accuracy":
            continue
        if isinstance(value, dict):
            inner = ", ".join(f"{k}: {v}" for k, v in sorted(value.items()))
            lines.append(f"{key}: {inner}")
        elif not isinstance(value, list):
            lines.append(f"{key}: {value}")
    return "\n".join(lines).strip()


def error_cells(error: dict[str, Any], width: int = 80) -> tuple[str, str, str]:
    detail = " ".join(str(error.get("detail", "")).split())
    return (str(error.get("item_id", "")), str(error.get("reason", "")), _clip(detail, width))


# -- records -------------------------------------------------------------------------------------------------
def verdict_source(record: dict[str, Any]) -> str | None:
    """Whose verdict a record carries: the rule grader's (`correct`) when there is one, else the LLM judge's
    (`judge_correct`: a judging run over an ungraded inference run), else none."""
    if record.get("correct") is not None:
        return str(record.get("verdict_source") or "rule")
    if record.get("judge_correct") is not None:
        return "judge"
    return None


def verdict(record: dict[str, Any]) -> str:
    source = verdict_source(record)
    if source is None:
        return "ungraded"
    correct = record.get("correct") if record.get("correct") is not None else record.get("judge_correct")
    return "correct" if correct else "incorrect"


VERDICT_MARKS = {"correct": "✓", "incorrect": "✗", "ungraded": "?"}


def matches(record: dict[str, Any], which: str = "all", query: str = "") -> bool:
    """Verdict filter plus a case-insensitive search in example id, question and response."""
    if which != "all" and verdict(record) != which:
        return False
    if query:
        q = query.casefold()
        hay = (str(record.get("example_id", "")), str(record.get("question", "")),
               str(record.get("response", "")))
        return any(q in h.casefold() for h in hay)
    return True


def iter_matching(store: RunStore, which: str = "all", query: str = "") -> Iterator[dict[str, Any]]:
    """Matching records, read one chunk at a time (in chunk order, record order within a chunk)."""
    if which not in VERDICTS:
        raise ValueError(f"unknown filter {which!r}; one of {', '.join(VERDICTS)}")
    for index in store.done_chunks():
        try:
            chunk = store.read_chunk(index)
        except FileNotFoundError:  # cleared by a force-resume while we read
            continue
        for record in chunk:
            if matches(record, which, query):
                yield record


class RecordPager:
    """Pages of matching records, pulled lazily: `next_page(500)` reads only the chunks it needs."""

    def __init__(self, store: RunStore, which: str = "all", query: str = "") -> None:
        self._it = iter_matching(store, which, query)
        self.loaded = 0
        self.exhausted = False

    def next_page(self, size: int) -> list[dict[str, Any]]:
        page: list[dict[str, Any]] = []
        if self.exhausted:
            return page
        for record in self._it:
            page.append(record)
            if len(page) >= size:
                break
        else:
            self.exhausted = True
        self.loaded += len(page)
        return page


def verdict_counts(records: Iterable[dict[str, Any]]) -> Counter[str]:
    """How many records per verdict, plus `all`."""
    counts: Counter[str] = Counter()
    for record in records:
        counts[verdict(record)] += 1
        counts["all"] += 1
    return counts


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def preview(text: Any, width: int = PREVIEW) -> str:
    return _clip(" ".join(str(text or "").split()), width)


RECORD_COLUMNS = ("example", "sample", "domain", "ok", "extracted", "gold", "token", "finish", "response")


def record_cells(record: dict[str, Any]) -> tuple[str, ...]:
    return (
        str(record.get("example_id", "")),
        str(record.get("sample_idx", 0)),
        str(record.get("domain", "")),
        VERDICT_MARKS[verdict(record)],
        preview(_extracted(record), 16),
        preview(record.get("gold"), 16),
        str(record.get("confidence_token") or ""),
        str(record.get("finish_reason") or ""),
        preview(record.get("response")),
    )


def record_sections(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The detail pane: (title, body) pairs, in reading order; absent fields left out."""
    sample = f" #{record.get('sample_idx', 0)}"
    head = f"{record.get('example_id', '')}{sample} · {record.get('domain', '')} · {record.get('model', '')}"
    verdict_line = verdict(record)
    if verdict_source(record) == "judge":
        verdict_line += " (judge)"
    elif record.get("grade_status"):
        verdict_line += f" ({record['grade_status']})"
    if record.get("grade_reason"):
        verdict_line += f": {record['grade_reason']}"
    judge_line = ""
    if record.get("judge_status"):
        judged = record.get("judge_correct")
        judge_line = "ungraded" if judged is None else "correct" if judged else "incorrect"
        judge_line += f" ({record['judge_status']})"
    tokens = [f"{k.split('_')[0]} {record[k]}" for k in ("prompt_tokens", "completion_tokens")
              if record.get(k) is not None]
    if record.get("finish_reason"):
        tokens.append(f"finish {record['finish_reason']}")
    sections = [
        ("record", head),
        ("question", str(record.get("question") or "")),
        ("response", str(record.get("response") or "")),
        ("gold", _text(record.get("gold"))),
        ("extracted", _text(_extracted(record))),
        ("verdict", verdict_line),
        ("judge verdict", judge_line),
        ("confidence token", str(record.get("confidence_token") or "")),
        ("judge reasoning", str(record.get("judge_reasoning") or "")),
        ("tokens", ", ".join(tokens)),
    ]
    return [(title, body) for title, body in sections if body]


def _extracted(record: dict[str, Any]) -> Any:
    """The rule grader's extracted answer, else the answer the judge read."""
    extracted = record.get("extracted")
    return extracted if extracted is not None else record.get("judge_model_answer")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)
