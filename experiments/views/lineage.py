"""A run's lineage for the Run screen: the runs it read, the runs that read it, its pipeline and (for a pipeline)
its steps, as plain data plus the Textual-markup line of links that renders it (run ids are ours: safe in markup)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from experiments.runs.lineage import readers_of, step_stores
from experiments.runs.store import RunStore, status_of

SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
STATUS_MARKS = {"done": "✓", "failed": "✗", "cancelled": "⊘", "interrupted": "!", "running": "…", "queued": "·"}


@dataclass
class Lineage:
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    pipeline: str = ""
    step: str = ""
    steps: list[tuple[str, str, str]] = field(default_factory=list)  # (step name, run id or "", status)


def lineage_of(store: RunStore, manifest: dict[str, Any], home: str | os.PathLike[str] | None) -> Lineage:
    steps = []
    if manifest.get("stage") == "pipeline":
        for name, step_store in step_stores(store, home):
            status = status_of(step_store.manifest()) if step_store else "pending"
            steps.append((name, step_store.run_id if step_store else "", status))
    return Lineage(inputs=[str(r) for r in manifest.get("inputs") or []],
                   outputs=[s.run_id for s in reversed(readers_of(store, home))],
                   pipeline=str(manifest.get("pipeline") or ""), step=str(manifest.get("step") or ""),
                   steps=steps)


def _link(run_id: str, label: str | None = None) -> str:
    if not SAFE_ID.match(run_id):
        return "?"
    return f"[@click=screen.open_run('{run_id}')]{label or run_id}[/]"


def lineage_markup(lineage: Lineage) -> str:
    """`inputs: a · outputs: b, c · pipeline: p (step x)` with every run a link; steps of a pipeline in order."""
    parts = []
    if lineage.pipeline:
        step = f" (step {lineage.step})" if SAFE_ID.match(lineage.step or "x") and lineage.step else ""
        parts.append(f"[dim]pipeline[/] {_link(lineage.pipeline)}{step}")
    if lineage.steps:
        chain = " → ".join(f"{_link(rid, name) if rid else name} {STATUS_MARKS.get(status, status)}"
                           for name, rid, status in lineage.steps if SAFE_ID.match(name))
        parts.append(f"[dim]steps[/] {chain}")
    parts.append("[dim]inputs[/] " + (", ".join(_link(r) for r in lineage.inputs) or "none"))
    parts.append("[dim]read by[/] " + (", ".join(_link(r) for r in lineage.outputs) or "none yet"))
    return "  ·  ".join(parts)
