"""Summaries shared by stages and the CLI: accuracy by domain and model, tagged outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.store import RunStore


def accuracy_table(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of (model, domain, n, graded, correct, accuracy); `accuracy` over records with a verdict."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((str(r.get("model", "")), str(r.get("domain", ""))), []).append(r)
    rows = []
    for (model, domain), items in sorted(groups.items()):
        graded = [r for r in items if r.get("correct") is not None]
        correct = sum(1 for r in graded if r["correct"])
        rows.append({"model": model, "domain": domain, "n": len(items), "graded": len(graded),
                     "correct": correct, "accuracy": correct / len(graded) if graded else None})
    return rows


def format_accuracy(rows: list[dict[str, Any]]) -> str:
    header = f"{'model':<24} {'domain':<10} {'n':>6} {'graded':>7} {'correct':>8} {'accuracy':>9}"
    lines = [header, "-" * len(header)]
    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.1%}"
        lines.append(f"{r['model'][:24]:<24} {r['domain']:<10} {r['n']:>6} {r['graded']:>7} "
                     f"{r['correct']:>8} {acc:>9}")
    return "\n".join(lines)


def write_tagged_outputs(store: RunStore, records: list[dict[str, Any]]) -> list[Path]:
    import pandas as pd

    columns = ["example_id", "sample_idx", "domain", "model", "question", "gold", "response", "extracted",
               "correct", "confidence_token", "tagged_response"]
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in records], columns=columns)
    path = store.output_path("tagged.parquet")
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return [path]
