"""Accuracy tables shared by stages and the CLI (by domain and model), and their plain-text rendering."""

from __future__ import annotations

from typing import Any


def accuracy_table(records: list[dict[str, Any]], field: str = "correct") -> list[dict[str, Any]]:
    """Rows of (model, domain, n, graded, correct, accuracy); accuracy over records with a `field` verdict."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((str(r.get("model", "")), str(r.get("domain", ""))), []).append(r)
    return [_row(model, domain, items, field) for (model, domain), items in sorted(groups.items())]


def accuracy_by_model(records: list[dict[str, Any]], field: str = "correct") -> list[dict[str, Any]]:
    """One row per model over all its domains (domain shown as "all")."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(str(r.get("model", "")), []).append(r)
    return [_row(model, "all", items, field) for model, items in sorted(groups.items())]


def _row(model: str, domain: str, items: list[dict[str, Any]], field: str) -> dict[str, Any]:
    graded = [r for r in items if r.get(field) is not None]
    correct = sum(1 for r in graded if r[field])
    return {"model": model, "domain": domain, "n": len(items), "graded": len(graded),
            "correct": correct, "accuracy": correct / len(graded) if graded else None}


def format_accuracy(rows: list[dict[str, Any]]) -> str:
    header = f"{'model':<24} {'domain':<10} {'n':>6} {'graded':>7} {'correct':>8} {'accuracy':>9}"
    lines = [header, "-" * len(header)]
    for r in rows:
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.1%}"
        lines.append(f"{r['model'][:24]:<24} {r['domain']:<10} {r['n']:>6} {r['graded']:>7} "
                     f"{r['correct']:>8} {acc:>9}")
    return "\n".join(lines)
