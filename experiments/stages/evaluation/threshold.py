"""The decision threshold on P(confident): given in the spec, or chosen on an earlier evaluation run's records.

`threshold_from` names a run this run reads (like `input_run` or `adapter`): a pipeline binds it to a step, and
the run lists it in its manifest's `inputs`, so lineage names it. The chosen value is kept in the manifest the
first time it is read, so a resumed run (or its finalize) decides with the very same threshold.
"""

from __future__ import annotations

from typing import Any

from experiments.runs.context import StageContext
from experiments.runs.store import RunStore
from experiments.stages.evaluation.spec import EvaluationSpec

KEPT = "decision_threshold"  # manifest key: {"value", "source", "records"}


def threshold_run(spec: EvaluationSpec, ctx: StageContext) -> RunStore:
    """The run `threshold_from` names, checked: an evaluation run, done, not this run."""
    try:
        source = ctx.input_store(spec.threshold_from)
    except FileNotFoundError as exc:
        raise ValueError(f"threshold_from: {exc}") from None
    stage = source.manifest().get("stage")
    if stage != "evaluation":
        raise ValueError(f"threshold_from {source.run_id} is not an evaluation run (stage {stage}): the threshold is "
                         "chosen on an evaluation run's P(confident) and verdicts")
    if source.run_id == ctx.store.run_id:
        raise ValueError("threshold_from names this run itself: choose the threshold on another split")
    status = source.effective_status()
    if status != "done":
        raise ValueError(f"threshold_from {source.run_id} is {status}: the threshold is chosen on a finished run")
    return source


def decision_threshold(spec: EvaluationSpec, ctx: StageContext) -> tuple[float | None, str | None]:
    """(threshold, its source: the run that chose it or "spec"); (None, None) when the spec asks for none."""
    from experiments.stages.evaluation.metrics import best_threshold

    if spec.threshold is not None:
        return spec.threshold, "spec"
    if not spec.threshold_from:
        return None, None
    kept = ctx.store.manifest().get(KEPT) or {}
    if kept.get("value") is not None:
        return float(kept["value"]), str(kept["source"])
    source = threshold_run(spec, ctx)
    records = source.records()
    value = best_threshold([r.get("p_confident") for r in records], [bool(r.get("correct")) for r in records])
    if value is None:
        raise ValueError(f"threshold_from {source.run_id}: none of its {len(records)} records has a "
                         "P(confident), so no threshold can be chosen")
    ctx.store.update_manifest(**{KEPT: {"value": value, "source": source.run_id, "records": len(records)}})
    ctx.emit.log(f"threshold {value:.4g} on P(confident), chosen on {len(records)} answers of {source.run_id}")
    return value, source.run_id


def with_input(ctx: StageContext, run_id: str | None, first: list[str] | None = None) -> list[str]:
    """The manifest's `inputs` (or `first`) with `run_id` added once: what the run reads, for lineage."""
    inputs = list(first if first is not None else ctx.store.manifest().get("inputs") or [])
    return inputs + [run_id] if run_id and run_id != "spec" and run_id not in inputs else inputs


def overlap(source: str | None, records: list[dict[str, Any]], ctx: StageContext) -> int | None:
    """How many of these questions the threshold's run also answered (0 is the honest split); None without one."""
    if not source or source == "spec":
        return None
    try:
        chosen_on = {str(r.get("example_id")) for r in ctx.input_store(source).iter_records()}
    except FileNotFoundError:
        return None
    return len({str(r.get("example_id")) for r in records} & chosen_on)
