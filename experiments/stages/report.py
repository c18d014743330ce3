"""Summaries shared by stages and the CLI: accuracy by domain and model, judge-vs-rule agreement, outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.store import RunStore


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


# -- judge vs rule ------------------------------------------------------------------------------------------
def agreement_counts(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    """2x2 table of (judge, rule) verdict pairs, agreement and Cohen's kappa (None when undefined)."""
    n = len(pairs)
    both_correct = sum(1 for j, r in pairs if j and r)
    both_wrong = sum(1 for j, r in pairs if not j and not r)
    judge_only = sum(1 for j, r in pairs if j and not r)
    rule_only = sum(1 for j, r in pairs if r and not j)
    agreement = (both_correct + both_wrong) / n if n else None
    kappa = None
    if n:
        p_judge, p_rule = (both_correct + judge_only) / n, (both_correct + rule_only) / n
        expected = p_judge * p_rule + (1 - p_judge) * (1 - p_rule)
        if expected < 1:
            kappa = (agreement - expected) / (1 - expected)  # type: ignore[operator]
    return {"n": n, "both_correct": both_correct, "both_wrong": both_wrong, "judge_only": judge_only,
            "rule_only": rule_only, "agreement": agreement, "kappa": kappa}


def agreement_table(records: list[dict[str, Any]], judge_field: str = "judge_correct",
                    rule_field: str = "correct") -> dict[str, Any]:
    """Judge vs rule over records carrying both verdicts; the others are counted, not compared."""
    pairs = [(bool(r[judge_field]), bool(r[rule_field])) for r in records
             if r.get(judge_field) is not None and r.get(rule_field) is not None]
    table = agreement_counts(pairs)
    table["records"] = len(records)
    table["no_judge_verdict"] = sum(1 for r in records if r.get(judge_field) is None)
    table["no_rule_verdict"] = sum(1 for r in records if r.get(rule_field) is None)
    domains: dict[str, list[tuple[bool, bool]]] = {}
    for r in records:
        if r.get(judge_field) is not None and r.get(rule_field) is not None:
            pair = (bool(r[judge_field]), bool(r[rule_field]))
            domains.setdefault(str(r.get("domain", "")), []).append(pair)
    table["by_domain"] = {d: agreement_counts(p) for d, p in sorted(domains.items())}
    return table


def format_agreement(table: dict[str, Any]) -> str:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    lines = [
        f"judge vs rule over {table['n']} records with both verdicts "
        f"({table.get('no_judge_verdict', 0)} without a judge verdict, "
        f"{table.get('no_rule_verdict', 0)} without a rule verdict)",
        f"{'':<16}{'rule correct':>14}{'rule wrong':>12}",
        f"{'judge correct':<16}{table['both_correct']:>14}{table['judge_only']:>12}",
        f"{'judge wrong':<16}{table['rule_only']:>14}{table['both_wrong']:>12}",
        f"agreement {pct(table['agreement'])}   Cohen's kappa "
        + ("-" if table["kappa"] is None else f"{table['kappa']:.3f}"),
    ]
    for domain, t in (table.get("by_domain") or {}).items():
        kappa = "-" if t["kappa"] is None else f"{t['kappa']:.3f}"
        lines.append(f"  {domain:<12} n={t['n']:<6} agreement {pct(t['agreement']):>6}  kappa {kappa}")
    return "\n".join(lines)


# -- tagged outputs ------------------------------------------------------------------------------------------
TAGGED_COLUMNS = ["example_id", "sample_idx", "domain", "model", "question", "gold", "response", "extracted",
                  "correct", "verdict_source", "confidence_token", "tagged_response"]


def tagged_json(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The seed's shape: {"<index>": {question, response, correct_answer, correct, confidence_token,
    tagged_response}}; keys are "<index>_<sample_idx>" when any example has several samples, and the example
    id when indexes collide (records from several sources)."""
    multi = any(int(r.get("sample_idx", 0)) > 0 for r in records)

    def key(r: dict[str, Any], by_id: bool) -> str:
        base = str(r.get("example_id")) if by_id else str(r.get("index", r.get("example_id")))
        return f"{base}_{int(r.get('sample_idx', 0))}" if multi else base

    by_id = len({key(r, False) for r in records}) < len(records)
    ordered = sorted(records, key=lambda r: (str(r.get("source", "")), int(r.get("index", 0) or 0),
                                             str(r.get("example_id")), int(r.get("sample_idx", 0))))
    return {key(r, by_id): {"question": r.get("question"), "response": r.get("response", ""),
                            "correct_answer": r.get("gold"), "correct": r.get("correct"),
                            "confidence_token": r.get("confidence_token"),
                            "tagged_response": r.get("tagged_response")} for r in ordered}


def write_tagged_outputs(store: RunStore, records: list[dict[str, Any]]) -> list[Path]:
    """tagged.parquet (one row per record) and tagged.json (the seed's shape), both written atomically."""
    import pandas as pd

    from experiments.exports import write_json

    frame = pd.DataFrame([{c: r.get(c) for c in TAGGED_COLUMNS} for r in records], columns=TAGGED_COLUMNS)
    path = store.output_path("tagged.parquet")
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return [path, write_json(store.output_path("tagged.json"), tagged_json(records))]
