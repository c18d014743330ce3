"""`confconsole show RUN` as text: the run's header, progress, summary (aligned key/value lines and tables), bad
items and where its chain goes next. Plain Python; the CLI prints it, `--json` prints the raw manifest instead.

Any stage's summary renders without stage code: scalars as `key  value`, flat dicts on one line, dicts of dicts as
an indented block, lists of rows as a table. Evaluation and delegation runs add their calibration tables.
"""

from __future__ import annotations

import os
from typing import Any

from experiments.runs.state import RunState, age
from experiments.runs.store import RunStore
from experiments.views.runs import progress_line, progress_text, run_info

INLINE = 100  # a dict longer than this as one line becomes a block
MAX_ROWS = 40
MAX_ERRORS = 20
ACCURACY_COLUMNS = {"model", "domain", "n", "graded", "correct", "accuracy"}


def article(stage: str) -> str:
    """`an inference run`, `a grading run`."""
    return f"{'an' if stage[:1].lower() in 'aeiou' else 'a'} {stage} run"


def show_text(store: RunStore, state: RunState, home: str | os.PathLike[str] | None = None) -> str:
    manifest = store.manifest()
    status = store.effective_status()
    fields = run_info(manifest, status)
    progress = progress_line(state, status) if status in ("running", "queued") or state.total else ""
    counts = manifest.get("counts") or {}
    if not state.total and counts.get("records") is not None:
        progress = progress_text(counts["records"], counts.get("expected_records"), "records")
    fields.insert(3, ("progress", progress or "-"))
    fields.append(("folder", str(store.dir)))
    if manifest.get("started"):
        end = manifest.get("finished") or manifest.get("updated") or manifest["started"]
        took = float(end) - float(manifest["started"])
        fields.append(("elapsed", f"{took:.1f}s (started {age(manifest['started'])})"))
    lines = key_values(fields)
    summary = manifest.get("summary") or {}
    if summary:
        lines += ["", "summary", *summary_lines(summary, str(manifest.get("stage", "")), store)]
    elif status in ("running", "queued"):
        lines += ["", "summary  (when the run is done)"]
    errors = store.errors()
    if errors:
        more = f" (first {MAX_ERRORS})" if len(errors) > MAX_ERRORS else ""
        lines += ["", f"{len(errors)} bad item{'s' if len(errors) > 1 else ''}{more}"]
        lines += [f"  {e.get('item_id')}: {e.get('reason')} {e.get('detail', '')}".rstrip()
                  for e in errors[:MAX_ERRORS]]
    lines += next_lines(store, home)
    return "\n".join(lines)


def key_values(fields: list[tuple[str, str]], indent: str = "") -> list[str]:
    width = max((len(k) for k, _ in fields), default=0) + 2
    return [f"{indent}{k:<{width}}{v}" for k, v in fields]


def fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values()):
        return " · ".join(f"{k} {fmt(v)}" for k, v in value.items())
    return str(value)


def summary_lines(summary: dict[str, Any], stage: str = "", store: RunStore | None = None) -> list[str]:
    """Scalars first (aligned), then blocks and tables in the summary's order. Evaluation and delegation runs
    show their calibration view's tables instead of the raw ones (the same numbers, formatted)."""
    calibration = store is not None and stage in ("evaluation", "delegation")
    scalars, blocks = [], []
    for key, value in summary.items():
        if key == "text":
            blocks += ["", str(value)]
        elif (_is_rows(value) or _is_table(value)) and calibration:
            continue
        elif _is_rows(value) and ACCURACY_COLUMNS <= set(value[0]):
            from experiments.report.accuracy import format_accuracy

            blocks += ["", f"  {key}", *("  " + line for line in format_accuracy(value).splitlines())]
        elif _is_rows(value):
            blocks += ["", f"  {key}", *("  " + line for line in rows_table(value).splitlines())]
        elif _is_table(value):
            rows = [{"": k, **v} for k, v in value.items()]
            blocks += ["", f"  {key}", *("  " + line for line in rows_table(rows).splitlines())]
        elif isinstance(value, dict) and value and (len(fmt(value)) > INLINE or _nested(value)):
            blocks += ["", f"  {key}", *key_values([(str(k), fmt(v)) for k, v in value.items()], "    ")]
        else:
            scalars.append((key, fmt(value)))
    lines = key_values(scalars, "  ") + blocks
    if calibration:
        lines += calibration_lines(store)
    return lines


def _is_table(value: Any) -> bool:
    """A dict of dicts (`by_domain`): one row per key."""
    return isinstance(value, dict) and bool(value) and all(isinstance(v, dict) for v in value.values())


def _nested(value: dict[str, Any]) -> bool:
    return any(isinstance(v, dict | list) for v in value.values())


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def rows_table(rows: list[dict[str, Any]]) -> str:
    from tabulate import tabulate

    columns: list[str] = []
    for row in rows:
        columns += [k for k, v in row.items() if k not in columns and (not isinstance(v, dict | list)
                                                                       or fmt(v) != str(v))]
    body = [[fmt(row.get(c)) for c in columns] for row in rows[:MAX_ROWS]]
    more = f"\n({len(rows) - MAX_ROWS} more rows: --json shows all)" if len(rows) > MAX_ROWS else ""
    return tabulate(body, headers=columns, tablefmt="simple") + more


def calibration_lines(store: RunStore) -> list[str]:
    from experiments.stages.evaluation.views import calibration_view, text_table

    try:
        view = calibration_view(store)
    except (OSError, ValueError) as exc:
        return ["", f"  (calibration tables unavailable: {exc})"]
    lines = []
    for table in view.tables:
        if table.name in ("sweep", "selective"):
            continue  # long curves: `export --format calibration` writes them whole
        lines += ["", *("  " + line for line in text_table(table).splitlines())]
    return lines


def next_lines(store: RunStore, home: str | os.PathLike[str] | None) -> list[str]:
    """The runs that read this one, so a chain can be walked from any run."""
    from experiments.runs.lineage import readers_of

    readers = readers_of(store, home)
    if not readers:
        return []
    width = max(len(r.run_id) for r in readers) + 2
    return ["", "read by"] + [f"  {r.run_id:<{width}}{r.manifest().get('stage')}  ({r.effective_status()})"
                              for r in readers]
