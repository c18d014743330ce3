"""Curation: one run computes one `action` over graded/judged runs (or parquet files) into its `outputs/`.

The work is columnar (pyarrow/numpy) and writes no chunks: a curation run's product is its outputs, listed as
`artifact` events, and its summary (also `outputs/summary.json`). `out` copies the main output to a path.
Pass rates are also cached in each graded run's own `outputs/passrates.parquet` (+ `idx_to_passrate.json`);
recomputing verdicts on demand (the reference's `--recalculate_rewards`) is `confconsole resume GRADING_RUN --force`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from experiments.exports import write_json
from experiments.runs.context import StageContext
from experiments.runs.store import RunStore
from experiments.stages.curation.passrates import (
    VerdictOptions,
    idx_to_passrate,
    load_passrates,
    policy_reviews,
    resolve_verdict,
    write_parquet,
)
from experiments.stages.curation.spec import CurationSpec

SUMMARY_FILE = "summary.json"
LISTS = ("kept", "dropped")  # long id lists stay in the outputs, out of the manifest


def _stores(ctx: StageContext, runs: list[str]) -> list[RunStore]:
    return [ctx.input_store(r) for r in runs]


def _rates(ctx: StageContext, spec: CurationSpec, stores: list[RunStore]) -> list[Any]:
    out = []
    for store in stores:
        ctx.emit.log(f"pass rates of {store.run_id}")
        out.append(load_passrates(store, VerdictOptions.of(spec)))
    return out


def _label(table: Any, store: RunStore, column: str) -> str:
    values = [v for v in table.column(column).unique().to_pylist() if v] if table.num_rows else []
    return ",".join(sorted(map(str, values))) or store.run_id


def do_passrates(spec: CurationSpec, ctx: StageContext) -> tuple[dict[str, Any], Path]:
    import pyarrow as pa

    stores = _stores(ctx, spec.rate_runs())
    if not stores:
        raise ValueError("passrates needs `runs` or `input_run`")
    tables, runs = _rates(ctx, spec, stores), {}
    for store, table in zip(stores, tables, strict=True):
        mapping = idx_to_passrate(table)
        write_json(store.output_path("idx_to_passrate.json"), mapping)
        name = "idx_to_passrate.json" if len(stores) == 1 else f"idx_to_passrate-{store.run_id}.json"
        write_json(ctx.store.output_path(name), mapping)
        rate = table.column("rate").to_numpy(zero_copy_only=False)
        runs[store.run_id] = {"verdict": resolve_verdict(store, spec.verdict),
                              "human_verdicts": len(policy_reviews(store, spec.verdict)),
                              "examples": table.num_rows, "samples": int(sum(table.column("n").to_pylist())),
                              "mean_rate": float(rate[rate == rate].mean()) if (rate == rate).any() else None,
                              "ungraded": int((rate != rate).sum())}
    combined = pa.concat_tables([t.append_column("run_id", pa.array([s.run_id] * t.num_rows, pa.string()))
                                 for s, t in zip(stores, tables, strict=True)])
    main = write_parquet(combined, ctx.store.output_path("passrates.parquet"))
    return {"runs": runs, "verdict": spec.verdict}, main if len(stores) > 1 else ctx.store.output_path(name)


def do_buckets(spec: CurationSpec, ctx: StageContext) -> tuple[dict[str, Any], Path]:
    from experiments.runs.atomic import write_text_atomic
    from experiments.stages.curation.buckets import bucket_report, format_report

    stores = _stores(ctx, spec.rate_runs())
    tables = _rates(ctx, spec, stores)
    items = [(_label(t, s, "source"), _label(t, s, "model"), t.column("rate").to_numpy(zero_copy_only=False))
             for s, t in zip(stores, tables, strict=True)]
    report = bucket_report(items)
    text = format_report(report)
    ctx.emit.log("\n" + text)
    write_text_atomic(ctx.store.output_path("buckets.txt"), text + "\n")
    main = write_json(ctx.store.output_path("buckets.json"), report.as_dict())
    if spec.save_mapping:
        mapping: dict[str, dict[str, float]] = {}
        for (dataset, _, _), store, table in zip(items, stores, tables, strict=True):
            mapping.setdefault(dataset if dataset not in mapping else f"{dataset}@{store.run_id}", {}).update(
                idx_to_passrate(table))
        write_json(ctx.store.output_path("combined_passrates.json"), mapping)
    return {**report.as_dict(), "text": text}, main


def _source_table(spec: CurationSpec, ctx: StageContext) -> tuple[Any, Any, list[Any]]:
    """(table, key per row for the rate lookup, id per row for the summary)."""
    import numpy as np

    from experiments.stages.curation.filters import read_source

    if spec.source:
        table = read_source(spec.source)
        keys = np.arange(table.num_rows, dtype=np.int64)
        ids: list[Any] = keys.tolist()
        return table, keys, ids
    from experiments.stages.curation.mixed import solutions

    frame = solutions(_stores(ctx, spec.weak_runs), VerdictOptions.of(spec)).drop_duplicates("example_id")
    frame = frame[["example_id", "index", "domain", "source", "question", "gold"]].reset_index(drop=True)
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    keys = frame["index"].fillna(-1).to_numpy(dtype=np.int64)
    return table, keys, frame["example_id"].tolist()


def _annotated(spec: CurationSpec, ctx: StageContext) -> tuple[Any, list[Any], dict[str, Any]]:
    from experiments.stages.curation.filters import annotate, merged_rates

    table, keys, ids = _source_table(spec, ctx)
    weak = merged_rates(_rates(ctx, spec, _stores(ctx, spec.weak_runs)))
    strong = merged_rates(_rates(ctx, spec, _stores(ctx, spec.strong_runs)))
    annotated = annotate(table, keys, weak, strong)
    low = annotated.column("low_pass_rate").to_numpy(zero_copy_only=False)
    high = annotated.column("high_pass_rate").to_numpy(zero_copy_only=False)
    summary = {"rows": annotated.num_rows, "with_low_pass_rate": int((low == low).sum()),
               "with_high_pass_rate": int((high == high).sum())}
    return annotated, ids, summary


def do_annotate(spec: CurationSpec, ctx: StageContext) -> tuple[dict[str, Any], Path]:
    annotated, _, summary = _annotated(spec, ctx)
    return summary, write_parquet(annotated, ctx.store.output_path("annotated.parquet"))


def do_filter(spec: CurationSpec, ctx: StageContext) -> tuple[dict[str, Any], Path]:
    from experiments.stages.curation.filters import apply_filter

    annotated, ids, counts = _annotated(spec, ctx)
    kept, summary = apply_filter(annotated, ids, spec.low_thresh, spec.high_thresh)
    main = write_parquet(kept, ctx.store.output_path("filtered.parquet"))
    write_json(ctx.store.output_path("filter_summary.json"), summary)
    return {**counts, **summary}, main


def do_mixed(spec: CurationSpec, ctx: StageContext) -> tuple[dict[str, Any], Path]:
    from experiments.stages.curation.mixed import mixed_filter

    sols, questions, summary = mixed_filter(_stores(ctx, spec.weak_runs), _stores(ctx, spec.strong_runs),
                                            VerdictOptions.of(spec), spec.keep_disagreement)
    questions.to_parquet(ctx.store.output_path("mixed_questions.parquet"), index=False)
    sols.to_parquet(ctx.store.output_path("mixed.parquet"), index=False)
    write_json(ctx.store.output_path("mixed_summary.json"), summary)
    return summary, ctx.store.output_path("mixed.parquet")


def do_critique(spec: CurationSpec, ctx: StageContext) -> tuple[dict[str, Any], Path]:
    import pandas as pd

    from experiments.stages.curation.critique import critique_examples
    from experiments.stages.curation.verl import write_verl

    summary: dict[str, Any] = {}
    if spec.weak_runs and spec.strong_runs:
        summary["mixed"], mixed_path = do_mixed(spec, ctx)
    else:
        mixed_path = ctx.input_store(spec.input_run).outputs_dir / "mixed.parquet"
        if not mixed_path.exists():
            raise ValueError(f"run {spec.input_run} has no outputs/mixed.parquet: give a mixed curation run, or "
                             "weak_runs and strong_runs")
    examples, summary["critique"] = critique_examples(pd.read_parquet(mixed_path), spec.max_per_question, spec.seed)
    examples.to_parquet(ctx.store.output_path("critique.parquet"), index=False)
    main = write_verl(examples, ctx.store.output_path("critique_verl.parquet"), spec.data_source)
    ctx.emit.log(f"critique examples: {summary['critique']['targets']}")
    return summary, main


def do_sample(spec: CurationSpec, ctx: StageContext) -> tuple[dict[str, Any], Path]:
    from experiments.stages.curation.sampling import read_domains, sample_domains

    def count(prompts: list[Any]) -> list[int]:
        from backends.tokenize import count_tokens

        ctx.emit.log(f"counting prompt tokens with {spec.tokenizer}'s tokenizer")
        return count_tokens(prompts, spec.tokenizer)

    table = read_domains(spec.files, spec.domain_column)
    sampled, report = sample_domains(table, spec.prompt_column, count, spec.max_prompt_tokens,
                                     spec.target_per_domain, spec.seed)
    main = write_parquet(sampled, ctx.store.output_path("sampled.parquet"))
    write_json(ctx.store.output_path("sample_report.json"), report)
    return report, main


ACTIONS = {"passrates": do_passrates, "buckets": do_buckets, "annotate": do_annotate, "filter": do_filter,
           "mixed": do_mixed, "critique": do_critique, "sample": do_sample}


def run(spec: CurationSpec, ctx: StageContext) -> None:
    inputs = [*spec.rate_runs(), *spec.weak_runs, *spec.strong_runs]
    ctx.store.update_manifest(inputs=[ctx.input_store(r).run_id for r in dict.fromkeys(inputs)])
    ctx.emit.log(f"curation: {spec.action}")
    summary, main = ACTIONS[spec.action](spec, ctx)
    for path in sorted(ctx.store.outputs_dir.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            ctx.emit.artifact(str(path), path.suffix.lstrip("."))
    if spec.out:
        target = Path(spec.out).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(main, target)
        ctx.emit.artifact(str(target), target.suffix.lstrip("."))
    write_json(ctx.store.output_path(SUMMARY_FILE), {"action": spec.action, "main_output": str(main), **summary})


def finalize(spec: CurationSpec, ctx: StageContext) -> dict[str, Any]:
    import json

    summary = json.loads(ctx.store.output_path(SUMMARY_FILE).read_text())
    return {k: v for k, v in summary.items() if k not in LISTS}
