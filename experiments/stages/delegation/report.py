"""A delegation run's report from its records: prices, per-answer costs, and the tables of `tables.py`."""

from __future__ import annotations

from typing import Any

from experiments.stages.delegation.spec import DelegationSpec
from experiments.stages.delegation.tables import Answer, Rule, handoff, performance, pick_point, sweep


def answers_with_costs(records: list[dict[str, Any]], small_price: Any, oracle_price: Any) -> list[Answer]:
    out = []
    for r in records:
        asked = r.get("oracle_correct") is not None
        out.append(Answer(
            key=f"{r['example_id']}#{r.get('sample_idx', 0)}", small_correct=bool(r.get("correct")),
            confident=r.get("confident"), p_confident=r.get("p_confident"),
            small_cost=small_price.cost(int(r.get("prompt_tokens") or 0), int(r.get("completion_tokens") or 0)),
            oracle_correct=bool(r["oracle_correct"]) if asked else None,
            oracle_cost=oracle_price.cost(int(r.get("oracle_prompt_tokens") or 0),
                                          int(r.get("oracle_completion_tokens") or 0)) if asked else None))
    return out


def delegation_report(records: list[dict[str, Any]], spec: DelegationSpec, small: str,
                      rule: Rule | None = None) -> dict[str, Any]:
    from experiments.pricing import price_for

    oracle = spec.oracle_model or "big model"
    small_price, oracle_price = price_for(small, spec.prices), price_for(oracle, spec.prices)
    answers = answers_with_costs(records, small_price, oracle_price)
    points = sweep(answers)
    chosen = pick_point(points, spec.target_accuracy, spec.budget)
    rule = rule or Rule(spec.threshold, source="spec" if spec.threshold is not None else None)
    delegated = [rule.delegates(a) for a in answers]
    return {
        "small_model": small, "oracle_model": oracle,
        "prices": {"small": small_price.as_dict(), "oracle": oracle_price.as_dict()},
        "threshold": rule.threshold, "threshold_source": rule.source, "rule": rule.describe(),
        "target_accuracy": spec.target_accuracy, "budget": spec.budget,
        "handoff": handoff(answers, delegated, small, oracle),
        "performance": performance(answers, small, oracle, rule, chosen),
        "chosen": chosen,
        "chosen_note": chosen_note(chosen, spec),
        "oracle_answers": {"asked": sum(1 for r in records if r.get("oracle_source") == "asked"),
                           "reused": sum(1 for r in records if r.get("oracle_source") == "reused")},
        "sweep": points,
    }


def chosen_note(chosen: dict[str, Any] | None, spec: DelegationSpec) -> str:
    if spec.target_accuracy is None and spec.budget is None:
        return "no target: set target_accuracy or budget to pick a point"
    if chosen is None:
        return "no point of the sweep meets the target"
    t = "" if chosen["threshold"] is None else f" (P(confident) < {chosen['threshold']:.4g})"
    return (f"delegate the lowest {chosen['rate']:.1%}{t}: accuracy {chosen['accuracy']:.1%}, "
            f"cost ${chosen['cost']:.4f}")
