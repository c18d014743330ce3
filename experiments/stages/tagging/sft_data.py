"""A combined SFT dataset from one or more tagging runs: the prompt the model saw -> its tagged response.

Rows follow the order of the runs given, then (example_id, sample_idx) within a run, so the same runs
always give the same file. Each run's own `incorrect_ratio` selection is applied (as in its tagged outputs).
The input is the prompt as rendered for the model: the last user message, as a message list after the system
message when the run had one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from experiments.runs.atomic import write_text_atomic
from experiments.runs.store import RunStore, record_key

SFT_COLUMNS = ["input", "output", "domain", "correct", "confidence_token", "source_run", "example_id",
               "sample_idx"]


def _spec(store: RunStore) -> Any:
    from experiments.stages import spec_from_toml

    spec = spec_from_toml(store.spec_text())
    if spec.stage != "tagging":
        raise ValueError(f"run {store.run_id} is a {spec.stage} run; SFT data comes from tagging runs")
    return spec


def sft_rows(store: RunStore) -> tuple[list[dict[str, Any]], int]:
    """(rows, dropped by the run's incorrect_ratio) for one tagging run."""
    from experiments.stages.tagging.run import select_records

    spec = _spec(store)
    records = sorted(store.iter_records(), key=record_key)
    kept, dropped = select_records(records, spec.incorrect_ratio, spec.seed)
    rows = [{"input": prompt_of(r), "output": r["tagged_response"],
             "domain": r.get("domain"), "correct": bool(r.get("correct")),
             "confidence_token": r["confidence_token"], "source_run": store.run_id,
             "example_id": str(r.get("example_id")), "sample_idx": int(r.get("sample_idx", 0))} for r in kept]
    return rows, len(dropped)


def prompt_of(record: dict[str, Any]) -> str | list[dict[str, str]]:
    """The prompt the model answered: the user message, with the system message before it when there was one
    (the SFT model must be trained on the prompt it will be evaluated with)."""
    user = str(record.get("prompt") or record.get("question") or "")
    if record.get("system_prompt"):
        return [{"role": "system", "content": str(record["system_prompt"])}, {"role": "user", "content": user}]
    return user


def build_sft_dataset(stores: list[RunStore], out_path: str | Path, fmt: str | None = None) -> dict[str, Any]:
    """Write the rows of all `stores` to `out_path` (jsonl or parquet; from the suffix when fmt is None)."""
    out = Path(out_path)
    fmt = fmt or ("parquet" if out.suffix == ".parquet" else "jsonl")
    if fmt not in ("jsonl", "parquet"):
        raise ValueError(f"unknown SFT format {fmt!r} (jsonl, parquet)")
    if not stores:
        raise ValueError("build_sft_dataset needs at least one tagging run")
    rows: list[dict[str, Any]] = []
    runs: dict[str, int] = {}
    dropped = 0
    for store in stores:
        if store.run_id in runs:
            raise ValueError(f"run {store.run_id} is listed twice")
        these, n_dropped = sft_rows(store)
        runs[store.run_id] = len(these)
        rows += these
        dropped += n_dropped
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        import pandas as pd

        tmp = out.with_name(out.name + ".tmp")
        pd.DataFrame(rows, columns=SFT_COLUMNS).to_parquet(tmp, index=False)
        tmp.replace(out)
    else:
        write_text_atomic(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    by_domain: dict[str, int] = {}
    by_token: dict[str, int] = {}
    for r in rows:
        by_domain[str(r["domain"])] = by_domain.get(str(r["domain"]), 0) + 1
        by_token[r["confidence_token"]] = by_token.get(r["confidence_token"], 0) + 1
    return {"path": str(out), "format": fmt, "rows": len(rows), "runs": runs, "dropped_incorrect": dropped,
            "correct": sum(1 for r in rows if r["correct"]), "by_domain": by_domain, "by_token": by_token}
