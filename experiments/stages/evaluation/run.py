"""Evaluation: a model's answers -> verdict, final confidence token, P(confident) per record; calibration summary.

The answers come from an inference run (`input_run`, evaluated chunk by chunk like grading) or are generated
here by the inference stage's own `run`, unchanged: the run store it writes through is wrapped so every chunk
is graded, parsed and scored before it is written. So chunking, streaming into the engine, resume and data
parallel behave exactly as in an inference run, with no second copy of that code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from experiments.runs.context import StageContext
from experiments.runs.store import RunStore
from experiments.stages.evaluation.spec import EvaluationSpec


class EvaluatingStore(RunStore):
    """The run's store, with `write_chunk` passing records through a hook first (the inference stage's writes)."""

    def __init__(self, run_dir: Any, hook: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
        super().__init__(run_dir)
        self.hook = hook

    def write_chunk(self, index: int, records: list[dict[str, Any]]) -> int:
        return super().write_chunk(index, self.hook(records))


def backend_with_adapter(spec: EvaluationSpec) -> Any:
    """The spec's backend with `adapter` in its options when the engine takes one (hf; others as they add it)."""
    import inspect

    from backends.registry import backend_class

    if not spec.adapter:
        return spec.backend
    if "adapter" not in inspect.signature(backend_class(spec.backend.kind)).parameters:
        raise ValueError(f"the {spec.backend.kind} backend takes no LoRA adapter; use backend kind hf")
    return spec.backend.model_copy(update={"options": {**spec.backend.options, "adapter": spec.adapter}})


def inference_spec(spec: EvaluationSpec) -> Any:
    """The inference the evaluation runs when it has no input run: same dataset, model, engine and sampling."""
    from experiments.stages.inference.spec import InferenceSpec

    return InferenceSpec(title=spec.title, dataset=spec.dataset, model=spec.model, backend=backend_with_adapter(spec),
                         sampling=spec.sampling, chunk_size=spec.chunk_size,
                         max_prompt_length=spec.max_prompt_length, truncation=spec.truncation)


def answers_source(spec: EvaluationSpec, ctx: StageContext) -> tuple[RunStore | None, str, str | None, str | None]:
    """(input store or None, scoring model, adapter, system prompt) for this evaluation."""
    if not spec.input_run:
        return None, spec.model, spec.adapter, spec.dataset.system_prompt
    from experiments.stages import spec_from_toml

    source = ctx.input_store(spec.input_run)
    upstream = spec_from_toml(source.spec_text())
    model = str(getattr(upstream, "model", spec.model))
    backend = getattr(upstream, "backend", None)
    adapter = spec.adapter or (backend.options.get("adapter") if backend is not None else None)
    dataset = getattr(upstream, "dataset", None)
    return source, model, adapter, getattr(dataset, "system_prompt", None)


def run(spec: EvaluationSpec, ctx: StageContext) -> None:
    from experiments.stages.evaluation.confidence import Evaluator
    from experiments.stages.evaluation.threshold import decision_threshold, with_input
    from experiments.stages.sft.adapter import resolve_adapter

    threshold, chosen_by = decision_threshold(spec, ctx)  # first: a wrong threshold_from fails before any work
    if spec.adapter:  # a folder, or an sft run id naming its adapter
        spec = spec.model_copy(update={"adapter": resolve_adapter(spec.adapter, ctx.home)[0]})

    source, model, adapter, system_prompt = answers_source(spec, ctx)
    if source is None:
        ctx.store.update_manifest(inputs=with_input(ctx, chosen_by))
    with Evaluator(spec, ctx, model, adapter, system_prompt, threshold) as evaluator:
        if source is None:
            from experiments.stages.inference.run import build_generator
            from experiments.stages.inference.run import run as run_inference

            def open_engine(inference: Any, ctx: StageContext) -> Any:
                generator = build_generator(inference, ctx)
                if spec.backend.kind == "hf":  # the scoring pass runs on the same weights: load them once
                    evaluator.share_engine(generator)
                return generator

            original = ctx.store
            ctx.store = EvaluatingStore(original.dir, evaluator.evaluate)
            try:
                run_inference(inference_spec(spec), ctx, open_engine)
            finally:
                ctx.store = original
        else:
            from experiments.stages.mirror import map_chunks

            map_chunks(source, ctx, evaluator.evaluate, inputs=with_input(ctx, chosen_by, [source.run_id]))


def finalize(spec: EvaluationSpec, ctx: StageContext) -> dict[str, Any]:
    from experiments.exports import write_json
    from experiments.report.accuracy import accuracy_table
    from experiments.stages.evaluation.metrics import summary_metrics
    from experiments.stages.evaluation.threshold import decision_threshold, overlap

    records = ctx.store.records()
    threshold, chosen_by = decision_threshold(spec, ctx)  # kept in the manifest by `run`: the same value
    full = metrics_of(records, spec.bins, summary_metrics, threshold)
    if threshold is not None:
        full["threshold_source"] = chosen_by
        shared = overlap(chosen_by, records, ctx)
        if shared is not None:
            full["threshold_overlap"] = shared
        if shared:
            ctx.emit.log(f"{shared} of these questions were also in {chosen_by}, which chose the threshold: "
                         "the figures at the threshold are not held out", level="warning")
    by_domain = {}
    for domain in sorted({str(r.get("domain", "")) for r in records}):
        rows = [r for r in records if str(r.get("domain", "")) == domain]
        by_domain[domain] = {k: v for k, v in metrics_of(rows, spec.bins, summary_metrics, threshold).items()
                             if k not in ("reliability", "selective", "threshold")}
    sources: dict[str, int] = {}
    for r in records:
        sources[str(r.get("p_source"))] = sources.get(str(r.get("p_source")), 0) + 1
    path = write_json(ctx.store.output_path("calibration.json"), {**full, "by_domain": by_domain})
    ctx.emit.artifact(str(path), "json")
    for name in ("accuracy", "calibration_accuracy", "calibration_accuracy_at_threshold", "auroc", "ece", "brier"):
        if full.get(name) is not None:
            ctx.emit.metric(name, full[name], force=True)
    return {"records": len(records), "model": spec.model, "adapter": spec.adapter,
            **{k: v for k, v in full.items() if k != "selective"}, "p_sources": sources, "by_domain": by_domain,
            "accuracy_by_domain": accuracy_table(records), "errors": len(ctx.store.errors())}


def metrics_of(records: list[dict[str, Any]], bins: int, summary: Callable[..., dict[str, Any]],
               threshold: float | None = None) -> dict[str, Any]:
    return summary([bool(r.get("correct")) for r in records], [r.get("confident") for r in records],
                   [r.get("p_confident") for r in records], bins, threshold)
