"""Judge vs rule: the 2x2 table of verdict pairs, agreement and Cohen's kappa, overall and by domain."""

from __future__ import annotations

from typing import Any


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
