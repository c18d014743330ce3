"""The Calibration view of an evaluation or delegation run: named tables and plots as plain data.

The TUI's Calibration screen renders it, `calibration-export` writes it (CSV, Markdown, PNG/SVG) and the CLI
prints its tables, so all three show the same numbers. A delegation run's view starts with its evaluation run's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from experiments.runs.store import RunStore

STAGES = ("evaluation", "delegation")


@dataclass
class Table:
    name: str  # file stem of its exports
    title: str
    columns: list[str]
    rows: list[dict[str, Any]]


@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float]
    kind: str = "line"  # line | scatter | bar


@dataclass
class Plot:
    name: str
    title: str
    xlabel: str
    ylabel: str
    series: list[Series]
    xlim: tuple[float, float] | None = (0.0, 1.0)
    ylim: tuple[float, float] | None = (0.0, 1.0)


@dataclass
class CalibrationView:
    run_id: str
    stage: str
    tables: list[Table] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)

    def plot(self, name: str) -> Plot | None:
        return next((p for p in self.plots if p.name == name), None)


def _json(store: RunStore, name: str) -> dict[str, Any]:
    try:
        return json.loads(store.output_path(name).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def evaluation_parts(view: CalibrationView, store: RunStore) -> None:
    summary = store.manifest().get("summary") or {}
    full = _json(store, "calibration.json") or summary
    if not full:
        view.notes.append(f"{store.run_id}: no calibration summary yet (the run is not done)")
        return
    domains = full.get("by_domain") or {}
    at_t = full.get("threshold") is not None
    columns = ["domain", "n", "accuracy", "calibration_accuracy",
               *(["calibration_accuracy_at_threshold"] if at_t else []), "auroc", "ece", "brier"]
    view.tables.append(Table("accuracy_by_domain", "Accuracy by domain", columns,
                             [{"domain": d, **{k: m.get(k) for k in columns[1:]}} for d, m in domains.items()]))
    view.tables.append(token_table("tokens", "Token distribution (as written)" if at_t else "Token distribution",
                                   full.get("tokens") or {}))
    if at_t:
        view.tables.append(token_table("tokens_at_threshold", f"Token distribution at P(confident) >= "
                                       f"{full['threshold']:.4g}", full.get("tokens_at_threshold") or {}))
    view.tables.append(Table("metrics", "Calibration metrics", ["metric", "value"], [
        {"metric": k, "value": full.get(k)} for k in METRICS if k in ALWAYS or full.get(k) is not None]))
    if at_t:
        view.notes.append(threshold_note(full))
    bins = full.get("reliability") or []
    view.tables.append(Table("reliability", "Reliability bins", ["bin", "lo", "hi", "count", "mean_confidence",
                                                                 "accuracy"], bins))
    filled = [b for b in bins if b.get("count")]
    view.plots.append(Plot("reliability", "Reliability diagram", "P(confident)", "accuracy", [
        Series("perfect calibration", [0.0, 1.0], [0.0, 1.0]),
        Series("accuracy per bin", [b["mean_confidence"] for b in filled], [b["accuracy"] for b in filled],
               "scatter")]))
    curve = full.get("selective") or []
    view.tables.append(Table("selective", "Selective accuracy", ["threshold", "answered", "coverage", "accuracy"],
                             curve))
    view.plots.append(Plot("selective", "Selective accuracy", "coverage", "accuracy", [
        Series("answer when P(confident) >= t", [p["coverage"] for p in curve], [p["accuracy"] for p in curve])]))


METRICS = ("n", "accuracy", "calibration_accuracy", "calibration_accuracy_at_threshold", "majority_baseline",
           "threshold", "threshold_source", "threshold_overlap", "auroc", "ece", "brier", "scored")
ALWAYS = ("n", "accuracy", "calibration_accuracy", "auroc", "ece", "brier", "scored")  # shown even when None


def token_table(name: str, title: str, tokens: dict[str, int]) -> Table:
    n = sum(tokens.values()) or 1
    return Table(name, title, ["token", "count", "share"],
                 [{"token": k, "count": v, "share": v / n} for k, v in tokens.items()])


def threshold_note(full: dict[str, Any]) -> str:
    """Both calibration figures against the baseline, named for what they are."""
    source = full.get("threshold_source")
    chosen = "set in the spec" if source in (None, "spec") else f"chosen on {source}"
    return (f"calibration accuracy of the written tokens {cell(full.get('calibration_accuracy'), 'accuracy')}; "
            f"at P(confident) >= {full['threshold']:.4g} ({chosen}) "
            f"{cell(full.get('calibration_accuracy_at_threshold'), 'accuracy')}; majority-token baseline "
            f"{cell(full.get('majority_baseline'), 'accuracy')}")


def delegation_parts(view: CalibrationView, store: RunStore) -> None:
    report = _json(store, "delegation.json") or store.manifest().get("summary") or {}
    if not report:
        view.notes.append(f"{store.run_id}: no delegation report yet (the run is not done)")
        return
    view.tables.append(Table("performance", "Performance", ["system", "accuracy", "cost", "delegated", "rate"],
                             report.get("performance") or []))
    view.tables.append(Table("handoff", "Hand-off breakdown", ["model", "role", "correct", "total", "accuracy",
                                                               "cost"], report.get("handoff") or []))
    points = [p for p in report.get("sweep") or [] if p.get("accuracy") is not None]
    view.tables.append(Table("sweep", "Threshold sweep", ["k", "rate", "threshold", "accuracy", "cost"],
                             report.get("sweep") or []))
    series = [Series("delegation rate 0-100%", [p["cost"] for p in points], [p["accuracy"] for p in points])]
    chosen = report.get("chosen")
    if chosen:
        series.append(Series("chosen", [chosen["cost"]], [chosen["accuracy"]], "scatter"))
    view.plots.append(Plot("frontier", "Accuracy vs cost", "cost (USD)", "accuracy", series, xlim=None))
    view.notes.append(str(report.get("chosen_note") or ""))


def calibration_view(store: RunStore) -> CalibrationView:
    """The view of an evaluation run, or of a delegation run (its evaluation run's parts first)."""
    manifest = store.manifest()
    stage = str(manifest.get("stage"))
    if stage not in STAGES:
        raise ValueError(f"{store.run_id} is a {stage} run; the calibration view needs an evaluation or "
                         "delegation run")
    view = CalibrationView(store.run_id, stage)
    if stage == "delegation":
        source = next(iter(manifest.get("inputs") or []), None)
        if source and (store.dir.parent / source / "manifest.json").exists():
            evaluation_parts(view, RunStore(store.dir.parent / source))
        delegation_parts(view, store)
    else:
        evaluation_parts(view, store)
    return view


def cell(value: Any, column: str = "") -> str:
    """Display text of a table cell: shares and accuracies as percentages, costs in dollars."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if column in ("accuracy", "calibration_accuracy", "calibration_accuracy_at_threshold", "majority_baseline", "share",
                  "rate", "coverage"):
        return f"{value:.1%}"
    if column == "cost":
        return f"${value:.4f}"
    return f"{value:.4g}"


def row_cells(table: Table, row: dict[str, Any]) -> list[str]:
    """A row's display cells; a metrics table's `value` is formatted as the metric it holds."""
    return [cell(row.get(c), str(row.get("metric")) if c == "value" else c) for c in table.columns]


def text_table(table: Table) -> str:
    """A plain-text table (the CLI's output)."""
    from tabulate import tabulate

    rows = [row_cells(table, r) for r in table.rows]
    return f"{table.title}\n" + tabulate(rows, headers=table.columns, tablefmt="simple")
