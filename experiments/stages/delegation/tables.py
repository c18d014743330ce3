"""The delegation tables as pure functions of per-answer rows: hand-off breakdown, performance table, the
threshold sweep (accuracy-cost frontier) and the operating point a user picks for a target accuracy or budget.

Costs: the small model answered every question, so every delegation variant pays for all its answers plus the
big model's delegated ones. The hand-off breakdown splits the final answers by who gave them: the small model's
row costs what its kept answers cost, the big model's what the delegated ones cost (the reference's layout).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from experiments.stages.evaluation.metrics import at_threshold  # the evaluation's decision at a threshold


@dataclass(frozen=True)
class Answer:
    """One question as delegation sees it. `oracle_correct`/`oracle_cost` are None when the big model was not
    asked (and no earlier run of it answered)."""

    key: str
    small_correct: bool
    confident: bool | None  # None: no token (missing)
    p_confident: float | None
    small_cost: float
    oracle_correct: bool | None = None
    oracle_cost: float | None = None


def delegated_by_rule(a: Answer, threshold: float | None = None) -> bool:
    """Uncertain or missing token, or (with a threshold) P(confident) below it."""
    if a.confident is not True:
        return True
    return threshold is not None and a.p_confident is not None and a.p_confident < threshold


def delegated_at_threshold(a: Answer, threshold: float) -> bool:
    """The evaluation's calibrated decision is not "confident": P(confident) < threshold where P is known, else
    the written token (uncertain or missing). An uncertain token with P above the threshold is kept: the threshold
    was chosen because P ranks answers better than the written token does."""
    return at_threshold([a.p_confident], [a.confident], threshold)[0] is not True


@dataclass(frozen=True)
class Rule:
    """Which answers go to the big model. No threshold: uncertain or missing tokens. A threshold of the spec
    (`calibrated` False): those, plus confident tokens with P(confident) below it (the rule before calibrated
    thresholds). The input evaluation's threshold (`calibrated`): `delegated_at_threshold`."""

    threshold: float | None = None
    calibrated: bool = False
    source: str | None = None  # "spec", or the evaluation run whose threshold this is

    def delegates(self, a: Answer) -> bool:
        if self.calibrated and self.threshold is not None:
            return delegated_at_threshold(a, self.threshold)
        return delegated_by_rule(a, self.threshold)

    def describe(self) -> str:
        if self.threshold is None:
            return "uncertain or missing token"
        if self.calibrated:
            return (f"P(confident) < {self.threshold:.4g} (the threshold of evaluation {self.source}; the written "
                    "token where P is unknown)")
        return f"uncertain or missing token, or P(confident) < {self.threshold:.4g}"

    def label(self) -> str:
        """Its row in the performance table."""
        if self.threshold is None:
            return "delegation: uncertain + missing tokens"
        if self.calibrated:
            return f"delegation: P(confident) < {self.threshold:.4g} (calibrated)"
        return f"delegation: tokens + P(confident) < {self.threshold:g}"


def _rate(correct: int, total: int) -> float | None:
    return correct / total if total else None


def outcome(answers: Sequence[Answer], delegated: Sequence[bool]) -> dict[str, Any]:
    """Overall correct/total/accuracy/cost of one delegation; accuracy None if a delegated answer is unknown."""
    unknown = sum(1 for a, d in zip(answers, delegated, strict=True) if d and a.oracle_correct is None)
    correct = sum(int(bool(a.oracle_correct if d else a.small_correct))
                  for a, d in zip(answers, delegated, strict=True))
    cost = sum(a.small_cost for a in answers) + sum(a.oracle_cost or 0.0 for a, d in zip(answers, delegated,
                                                                                           strict=True) if d)
    n_delegated = sum(1 for d in delegated if d)
    return {"correct": None if unknown else correct, "total": len(answers),
            "accuracy": None if unknown else _rate(correct, len(answers)), "cost": cost,
            "delegated": n_delegated, "rate": _rate(n_delegated, len(answers)), "unknown": unknown}


def handoff(answers: Sequence[Answer], delegated: Sequence[bool], small: str, oracle: str) -> list[dict[str, Any]]:
    """Per model: the answers it gave in the end (correct, total, accuracy, cost), plus the overall row."""
    kept = [a for a, d in zip(answers, delegated, strict=True) if not d]
    sent = [a for a, d in zip(answers, delegated, strict=True) if d]
    known = [a for a in sent if a.oracle_correct is not None]
    o_right = sum(1 for a in known if a.oracle_correct)
    s_right = sum(1 for a in kept if a.small_correct)
    rows = [{"model": oracle, "role": "big (delegated)", "correct": o_right, "total": len(sent),
             "accuracy": _rate(o_right, len(known)), "cost": sum(a.oracle_cost or 0.0 for a in sent)},
            {"model": small, "role": "small (kept)", "correct": s_right, "total": len(kept),
             "accuracy": _rate(s_right, len(kept)), "cost": sum(a.small_cost for a in kept)}]
    rows.append({"model": "overall", "role": "final answers", "correct": o_right + s_right, "total": len(answers),
                 "accuracy": _rate(o_right + s_right, len(answers)), "cost": rows[0]["cost"] + rows[1]["cost"]})
    return rows


def delegation_order(answers: Sequence[Answer]) -> list[int]:
    """Who goes to the big model first: the lowest P(confident); without P, missing, then uncertain, then
    confident tokens (stable in input order)."""
    tier = {None: -1.0, False: 0.0, True: 1.0}

    def key(i: int) -> tuple[float, int]:
        a = answers[i]
        return (a.p_confident if a.p_confident is not None else tier[a.confident], i)

    return sorted(range(len(answers)), key=key)


def sweep(answers: Sequence[Answer]) -> list[dict[str, Any]]:
    """Accuracy and cost at every delegation rate k/N, k = 0..N (the accuracy-cost frontier). `threshold`:
    delegating the answers with P(confident) below it gives this point (up to ties; None when some P is
    unknown, and at k = N). Accuracy is None from the first delegated answer the big model has not answered."""
    order = delegation_order(answers)
    n = len(answers)
    small_cost = sum(a.small_cost for a in answers)
    correct = sum(1 for a in answers if a.small_correct)
    oracle_cost, unknown = 0.0, 0
    all_p = all(a.p_confident is not None for a in answers)
    points = []
    for k in range(n + 1):
        if k:
            a = answers[order[k - 1]]
            correct += int(bool(a.oracle_correct)) - int(a.small_correct)
            oracle_cost += a.oracle_cost or 0.0
            unknown += a.oracle_correct is None
        threshold = answers[order[k]].p_confident if all_p and k < n else None
        points.append({"k": k, "rate": k / n if n else 0.0, "threshold": threshold,
                       "accuracy": None if unknown else (correct / n if n else None),
                       "cost": small_cost + oracle_cost})
    return points


def pick_point(points: Sequence[dict[str, Any]], target_accuracy: float | None = None,
               budget: float | None = None) -> dict[str, Any] | None:
    """The cheapest point reaching `target_accuracy` (within `budget` if given), or the most accurate point
    within `budget`; None when no point qualifies or neither is given."""
    known = [p for p in points if p["accuracy"] is not None]
    if budget is not None:
        known = [p for p in known if p["cost"] <= budget + 1e-12]
    if target_accuracy is not None:
        reach = [p for p in known if p["accuracy"] >= target_accuracy - 1e-12]
        return min(reach, key=lambda p: (p["cost"], p["k"])) if reach else None
    if budget is not None and known:
        return max(known, key=lambda p: (p["accuracy"], -p["cost"], -p["k"]))
    return None


def performance(answers: Sequence[Answer], small: str, oracle: str, rule: Rule | None = None,
                chosen: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The reference's table: small model alone, big model alone, and the delegation variants (the tokens' rule,
    and the run's rule when it has a threshold)."""
    n = len(answers)
    rows = [{"system": f"small model alone ({small})", **outcome(answers, [False] * n)},
            {"system": f"big model alone ({oracle})", **outcome(answers, [True] * n)}]
    rows[1]["cost"] = sum(a.oracle_cost or 0.0 for a in answers) if rows[1]["accuracy"] is not None else None
    rows.append({"system": Rule().label(), **outcome(answers, [delegated_by_rule(a) for a in answers])})
    if rule is not None and rule.threshold is not None:
        rows.append({"system": rule.label(), **outcome(answers, [rule.delegates(a) for a in answers])})
    if chosen is not None:
        order = delegation_order(answers)
        picked = set(order[:chosen["k"]])
        rows.append({"system": f"delegation: lowest {chosen['rate']:.0%} by P(confident) (chosen)",
                     **outcome(answers, [i in picked for i in range(n)])})
    return rows
