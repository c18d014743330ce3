"""Agreement between verdicts: the judge vs the rule grader (the judging stage's summary), and any pair of the
rule, the judge and a human reviewer (`confconsole agreement RUN`, the Records screen's agreement table).

Every table comes from one function over int8 verdict arrays (1 right, 0 wrong, -1 none): counts, agreement,
Cohen's kappa (scikit-learn's `cohen_kappa_score`; None when undefined, e.g. both raters always said the same)
and the 2x2 confusion matrix (scikit-learn's `confusion_matrix`, rows = the first rater, columns = the second,
order right, wrong). Records where either rater has no verdict are counted, not compared.
"""

from __future__ import annotations

import warnings
from itertools import combinations
from typing import Any

import numpy as np

RATERS = ("human", "judge", "rule")


def kappa(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cohen's kappa of two equally long 0/1 arrays; None when it is undefined (no pairs, or chance agreement 1)."""
    if not len(a):
        return None
    if len(set(np.unique(a)) | set(np.unique(b))) < 2:
        return None  # both raters used one label throughout: expected agreement is 1
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(cohen_kappa_score(a, b, labels=[0, 1]))
    return None if value != value else value


def pair_table(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Two raters over the same records: n compared, agreement, kappa, confusion [[RR, RW], [WR, WW]]."""
    from sklearn.metrics import confusion_matrix

    both = (a >= 0) & (b >= 0)
    x, y = a[both].astype(np.int8), b[both].astype(np.int8)
    n = int(both.sum())
    matrix = confusion_matrix(x, y, labels=[1, 0]).tolist() if n else [[0, 0], [0, 0]]
    agree = matrix[0][0] + matrix[1][1]
    return {"n": n, "agree": agree, "agreement": agree / n if n else None, "kappa": kappa(x, y),
            "confusion": matrix, "missing": int(len(a) - n)}


def rater_agreement(raters: dict[str, np.ndarray]) -> dict[str, Any]:
    """Every pair of the raters that have any verdict: `{"raters": {name: {n, correct}}, "pairs": {"a_vs_b": ...}}`."""
    present = {name: np.asarray(v, dtype=np.int8) for name, v in raters.items() if (np.asarray(v) >= 0).any()}
    summary = {name: {"n": int((v >= 0).sum()), "correct": int((v == 1).sum())} for name, v in present.items()}
    names = [name for name in RATERS if name in present] + [n for n in present if n not in RATERS]
    pairs = {f"{a}_vs_{b}": pair_table(present[a], present[b]) for a, b in combinations(names, 2)}
    return {"raters": summary, "pairs": pairs}


def agreement_counts(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    """2x2 table of (judge, rule) verdict pairs, agreement and Cohen's kappa (None when undefined)."""
    judge = np.array([int(j) for j, _ in pairs], dtype=np.int8)
    rule = np.array([int(r) for _, r in pairs], dtype=np.int8)
    return _judge_rule(judge, rule)


def _judge_rule(judge: np.ndarray, rule: np.ndarray) -> dict[str, Any]:
    table = pair_table(judge, rule)
    (both_correct, judge_only), (rule_only, both_wrong) = table["confusion"]
    return {"n": table["n"], "both_correct": both_correct, "both_wrong": both_wrong, "judge_only": judge_only,
            "rule_only": rule_only, "agreement": table["agreement"], "kappa": table["kappa"]}


def agreement_from_arrays(judge: np.ndarray, rule: np.ndarray, domains: list[str] | None = None,
                          human: np.ndarray | None = None) -> dict[str, Any]:
    """Judge vs rule (with `no_*_verdict` counts and by domain) plus, given human verdicts, every pair of raters."""
    table = _judge_rule(judge, rule)
    table["records"] = len(judge)
    table["no_judge_verdict"] = int((judge < 0).sum())
    table["no_rule_verdict"] = int((rule < 0).sum())
    by_domain = {}
    if domains is not None:
        labels = np.asarray(domains, dtype=object)
        for domain in sorted(set(labels[(judge >= 0) & (rule >= 0)].tolist())):
            mask = labels == domain
            by_domain[str(domain)] = _judge_rule(judge[mask], rule[mask])
    table["by_domain"] = by_domain
    if human is not None and (human >= 0).any():
        table.update(rater_agreement({"human": human, "judge": judge, "rule": rule}))
    return table


def agreement_table(records: list[dict[str, Any]], judge_field: str = "judge_correct",
                    rule_field: str = "correct") -> dict[str, Any]:
    """Judge vs rule over records carrying both verdicts; the others are counted, not compared."""

    def verdicts(field: str) -> np.ndarray:
        return np.array([-1 if r.get(field) is None else int(bool(r[field])) for r in records], dtype=np.int8)

    return agreement_from_arrays(verdicts(judge_field), verdicts(rule_field),
                                 [str(r.get("domain", "")) for r in records])


def view_agreement(view: Any, run_id: str = "this run") -> dict[str, Any]:
    """Agreement over a `RecordsView` (the index's verdict arrays and the reviews folded in): judge vs rule when
    the run has both (plus every pair with the human once anyone reviewed), else the pairs there are. ValueError
    when fewer than two of rule, judge and human gave verdicts."""
    human = np.where(view.human > 1, -1, view.human).astype(np.int8)  # a skip is no verdict
    have = {"rule": bool((view.rule >= 0).any()), "judge": bool((view.judge >= 0).any()),
            "human": bool((human >= 0).any())}
    if sum(have.values()) < 2:
        only = ", ".join(name for name, ok in have.items() if ok) or "no"
        raise ValueError(f"{run_id} has {only} verdicts: agreement needs two of rule, judge and human "
                         "(grade it, `confconsole judge` it, or review its records with v in the console)")
    if have["rule"] and have["judge"]:
        codes, values = view.codes("domain")
        names = np.array([*values, ""], dtype=object)[codes]
        return agreement_from_arrays(view.judge, view.rule, names.tolist(), human if have["human"] else None)
    return rater_agreement({"human": human, "judge": view.judge, "rule": view.rule})


def format_any_agreement(table: dict[str, Any]) -> str:
    """`format_agreement` for a judge-vs-rule table, else the raters' pairs."""
    return format_agreement(table) if "both_correct" in table else format_rater_agreement(table)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def _kappa_text(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def format_agreement(table: dict[str, Any]) -> str:
    lines = [
        f"judge vs rule over {table['n']} records with both verdicts "
        f"({table.get('no_judge_verdict', 0)} without a judge verdict, "
        f"{table.get('no_rule_verdict', 0)} without a rule verdict)",
        f"{'':<16}{'rule correct':>14}{'rule wrong':>12}",
        f"{'judge correct':<16}{table['both_correct']:>14}{table['judge_only']:>12}",
        f"{'judge wrong':<16}{table['rule_only']:>14}{table['both_wrong']:>12}",
        f"agreement {_pct(table['agreement'])}   Cohen's kappa {_kappa_text(table['kappa'])}",
    ]
    for domain, t in (table.get("by_domain") or {}).items():
        lines.append(f"  {domain:<12} n={t['n']:<6} agreement {_pct(t['agreement']):>6}  kappa "
                     f"{_kappa_text(t['kappa'])}")
    if table.get("pairs"):
        lines += ["", format_rater_agreement(table)]
    return "\n".join(lines)


def format_rater_agreement(table: dict[str, Any]) -> str:
    """The raters' counts, then one block per pair: agreement, kappa, and its confusion matrix."""
    lines = ["verdicts: " + ", ".join(f"{name} {r['n']} ({r['correct']} correct)"
                                      for name, r in table.get("raters", {}).items())]
    for name, pair in table.get("pairs", {}).items():
        a, b = name.split("_vs_")
        (rr, rw), (wr, ww) = pair["confusion"]
        lines += ["", f"{a} vs {b}: n={pair['n']}  agreement {_pct(pair['agreement'])}  Cohen's kappa "
                      f"{_kappa_text(pair['kappa'])}  ({pair['missing']} without both)",
                  f"  {'':<14}{b + ' correct':>16}{b + ' wrong':>14}",
                  f"  {a + ' correct':<14}{rr:>16}{rw:>14}",
                  f"  {a + ' wrong':<14}{wr:>16}{ww:>14}"]
    if not table.get("pairs"):
        lines.append("no two raters with verdicts to compare yet")
    return "\n".join(lines)
