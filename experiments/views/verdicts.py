"""A chain's verdicts shown wherever the chain is opened: an inference run's records with the verdicts (and
tokens) of the runs that read it.

An inference run holds answers only; its grading or judging run adds `correct` / `judge_correct`, and a tagging run
over that adds `confidence_token`. This module finds those readers; the Records screen joins their records indexes
to the answers' on (example_id, sample_idx) (`experiments.views.records_query`), so nothing is loaded whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from experiments.runs.store import RunStore

VERDICT_STAGES = ("grading", "judging")
USABLE = ("done", "running", "queued", "interrupted")  # a failed or cancelled reader's verdicts are not shown


@dataclass
class VerdictOverlay:
    """The readers whose fields are joined into `store`'s records, in join order (verdicts, then tokens)."""

    store: RunStore
    sources: list[RunStore] = field(default_factory=list)
    pending: str = ""  # a later step of this run's pipeline that will add verdicts

    def note(self) -> str:
        """One line over the records: where their verdicts come from, or why there are none and what to do."""
        if not self.sources and self.pending:
            return (f"no verdicts yet: {self.pending} has not run yet; they show here once it has (g re-reads)")
        if not self.sources:
            return (f"no verdicts: {self.store.run_id} holds answers only and no grading or judging run reads it "
                    f"yet (launch one: n, stage grading, input_run {self.store.run_id}; or `confconsole grade "
                    f"{self.store.run_id}`)")
        parts = [f"{'tokens' if _stage(s) == 'tagging' else 'verdicts'} from {s.run_id}" for s in self.sources]
        return "answers of this run, " + ", ".join(parts)


def _stage(store: RunStore) -> str:
    return str(store.manifest().get("stage", ""))


def overlay_for(store: RunStore, home: str | os.PathLike[str] | None = None) -> VerdictOverlay | None:
    """For an inference run: its newest usable grading and judging runs, and the newest tagging run over one of
    them. None for any other run (its records carry their own verdicts)."""
    from experiments.runs.lineage import readers_of

    if _stage(store) != "inference":
        return None
    runs = RunStore.list(home)
    sources: list[RunStore] = []
    for stage in VERDICT_STAGES:
        found = [r for r in readers_of(store, home, runs) if _stage(r) == stage and r.effective_status() in USABLE]
        if found:
            sources.append(found[0])
    for verdicts in list(sources):
        taggers = [r for r in readers_of(verdicts, home, runs) if _stage(r) == "tagging"
                   and r.effective_status() in USABLE]
        if taggers:
            sources.append(taggers[0])
            break
    return VerdictOverlay(store, sources, "" if sources else _pending_step(store, home))


def _pending_step(store: RunStore, home: str | os.PathLike[str] | None) -> str:
    """`step grading of pipeline-...` when this run's pipeline will grade or judge it later."""
    from experiments.runs.lineage import parent_pipeline

    pipeline = parent_pipeline(store, home)
    if pipeline is None:
        return ""
    manifest = pipeline.manifest()
    order = list(manifest.get("step_order") or [])
    mine = store.manifest().get("step")
    later = order[order.index(mine) + 1:] if mine in order else order
    spec_steps = {s.get("name"): s.get("stage") for s in _steps_of(pipeline)}
    for name in later:
        if spec_steps.get(name) in VERDICT_STAGES:
            return f"step {name} of {pipeline.run_id}"
    return ""


def _steps_of(pipeline: RunStore) -> list[dict[str, Any]]:
    import tomllib

    try:
        return list(tomllib.loads(pipeline.spec_text()).get("steps") or [])
    except (OSError, tomllib.TOMLDecodeError):
        return []
