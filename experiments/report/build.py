"""A report of a run or a whole pipeline, as plain data: sections of text, tables and plots.

Each run contributes its spec, timings, accuracy by domain, and what its stage has to show: calibration tables and
plots (evaluation, delegation: the Calibration screen's own view), the loss curve (SFT), the (c, k) heat table
(guided), pass-rate buckets (curation), usage and cost (judging, delegation). `render.py` writes it as Markdown
(PNG files beside it) or one self-contained HTML file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from experiments.runs.lineage import step_stores
from experiments.runs.store import RunStore, status_of
from experiments.stages.evaluation.views import Plot, Series, Table
from experiments.views.runs import key_metric

Home = str | os.PathLike[str] | None


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)  # paragraphs (plain text)
    code: str = ""  # the spec, shown verbatim
    tables: list[Table] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)


@dataclass
class Report:
    title: str
    sections: list[Section] = field(default_factory=list)


def wall_seconds(manifest: dict[str, Any]) -> float | None:
    if manifest.get("started") and manifest.get("finished"):
        return float(manifest["finished"]) - float(manifest["started"])
    return None


def build_report(store: RunStore, home: Home = None) -> Report:
    manifest = store.manifest()
    if manifest.get("stage") != "pipeline":
        return Report(f"Run {store.run_id}", [run_section(store)])
    steps = step_stores(store, home)
    report = Report(f"Pipeline {store.run_id}: {manifest.get('title', '')}".rstrip(": "))
    report.sections.append(overview(store, steps))
    report.sections += [run_section(s, name) for name, s in steps if s is not None]
    return report


def overview(store: RunStore, steps: list[tuple[str, RunStore | None]]) -> Section:
    rows = []
    for name, step in steps:
        m = step.manifest() if step else {}
        rows.append({"step": name, "stage": m.get("stage", ""), "run": step.run_id if step else "(not started)",
                     "status": status_of(m) if step else "pending", "result": key_metric(m) if m else "",
                     "seconds": wall_seconds(m), "cost_usd": run_cost(m)})
    manifest = store.manifest()
    total = wall_seconds(manifest)
    text = [f"status {status_of(manifest)}" + (f", {total:.1f} s wall" if total is not None else "")]
    costs = [r["cost_usd"] for r in rows if r["cost_usd"] is not None]
    if costs:
        text.append(f"API cost of the steps that priced tokens: ${sum(costs):.4f}")
    return Section("Overview", text=text, code=store.spec_text(),
                   tables=[Table("steps", "Steps", ["step", "stage", "run", "status", "result", "seconds",
                                                    "cost_usd"], rows)])


def run_cost(manifest: dict[str, Any]) -> float | None:
    """USD a run spent on priced tokens, where its summary says (judging: cost; delegation: its chosen or best
    delegated variant is a what-if, so none is charged here)."""
    summary = manifest.get("summary") or {}
    cost = summary.get("cost")
    if isinstance(cost, dict):
        cost = cost.get("total") or cost.get("usd")
    return float(cost) if isinstance(cost, int | float) else None


def run_section(store: RunStore, step: str = "") -> Section:
    manifest = store.manifest()
    stage = str(manifest.get("stage", ""))
    title = f"{step}: {stage} run {store.run_id}" if step else f"{stage} run {store.run_id}"
    seconds = wall_seconds(manifest)
    text = [f"status {status_of(manifest)}" + (f" in {seconds:.1f} s" if seconds is not None else "")
            + (f"; reads {', '.join(manifest.get('inputs') or [])}" if manifest.get("inputs") else "")]
    if key_metric(manifest):
        text.append(key_metric(manifest))
    section = Section(title, text=text, code=store.spec_text())
    summary = manifest.get("summary") or {}
    accuracy = summary.get("accuracy") if isinstance(summary.get("accuracy"), list) else None
    accuracy = accuracy or summary.get("accuracy_by_domain")
    if accuracy:
        section.tables.append(Table("accuracy", "Accuracy by domain", ["model", "domain", "n", "graded",
                                                                       "correct", "accuracy"], accuracy))
    add = STAGE_PARTS.get(stage)
    if add is not None:
        add(store, summary, section)
    return section


def _calibration(store: RunStore, summary: dict[str, Any], section: Section) -> None:
    from experiments.stages.evaluation.views import calibration_view

    view = calibration_view(store)
    section.tables += [t for t in view.tables if t.name != "sweep"]  # the sweep is plotted (frontier)
    section.plots += view.plots
    section.text += [n for n in view.notes if n]


def _sft(store: RunStore, summary: dict[str, Any], section: Section) -> None:
    curve = store.read_chunk(0) if store.chunk_done(0) else []
    loss = [(r["step"], r["loss"]) for r in curve if r.get("loss") is not None]
    val = [(r["step"], r["val_loss"]) for r in curve if r.get("val_loss") is not None]
    if loss or val:
        series = [Series(label, [float(s) for s, _ in pts], [float(v) for _, v in pts])
                  for label, pts in (("loss", loss), ("validation loss", val)) if pts]
        section.plots.append(Plot("loss", "Loss curve", "step", "loss", series, xlim=None, ylim=None))
    keep = ("steps", "final_loss", "final_val_loss", "train_rows", "val_rows", "tokens", "adapter_bytes")
    section.tables.append(Table("sft", "Training", ["field", "value"],
                                [{"field": k, "value": summary.get(k)} for k in keep if k in summary]))


def _guided(store: RunStore, summary: dict[str, Any], section: Section) -> None:
    from experiments.stages.guided.views import GuidedState, heat_table

    state = GuidedState()
    state.load_grid(summary.get("grid") or [])
    table = heat_table(state)
    rows = [{"c": c, **{f"k={k}": table.label(c, k) for k in table.ks}} for c in table.cs]
    if rows:
        section.tables.append(Table("grid", "Accuracy per (c, k) (◆ base alone, ★ oracle alone)",
                                    ["c", *[f"k={k}" for k in table.ks]], rows))
    if table.oracle_alone is not None:
        section.text.append(f"oracle alone: {table.oracle_alone.accuracy}")


def _scalars(store: RunStore, summary: dict[str, Any], section: Section) -> None:
    """Any other stage: its summary's scalar fields (curation counts, judging usage and cost, ...)."""
    rows = [{"field": k, "value": v} for k, v in sorted(summary.items())
            if isinstance(v, str | int | float | bool) and k != "text"]
    if rows:
        section.tables.append(Table("summary", "Summary", ["field", "value"], rows))
    if isinstance(summary.get("text"), str):
        section.text.append(summary["text"])


STAGE_PARTS = {"evaluation": _calibration, "delegation": _calibration, "sft": _sft, "guided": _guided,
               "curation": _scalars, "judging": _scalars, "inference": _scalars, "grading": _scalars,
               "tagging": _scalars}
