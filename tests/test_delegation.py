"""Delegation: the reference's hand-off table exactly (pure tables and the real stage reusing the big model's
run), the threshold sweep and the picked points."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from experiments.cli.main import main
from experiments.runs.store import RunStore
from experiments.stages.delegation.tables import Answer, Rule, handoff, pick_point, sweep
from tests.calibration_fixtures import BIG, PRICES, SMALL, reference_runs


def test_reference_handoff_table_and_overall_accuracy(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evaluation, oracle = reference_runs(home)
    prices = [f"--price={model}={a},{b}" for model, (a, b) in PRICES.items()]
    assert main(["--home", str(home), "delegate", evaluation.run_id, "--oracle-run", oracle.run_id,
                 "--oracle-model", BIG, "--scope", "delegated", "--target-accuracy", "0.8", "--quiet",
                 *prices]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"llm-big\s+big \(delegated\)\s+121\s+155\s+78\.1%\s+\$1\.2300", printed), printed
    assert re.search(r"slm-1\.5b\s+small \(kept\)\s+298\s+345\s+86\.4%\s+\$0\.0100", printed), printed
    assert re.search(r"overall\s+final answers\s+419\s+500\s+83\.8%\s+\$1\.2400", printed), printed
    store = RunStore.open("delegation-", home)
    summary = store.manifest()["summary"]
    big, small, overall = summary["handoff"]
    assert (big["model"], big["correct"], big["total"]) == (BIG, 121, 155)
    assert f"{big['accuracy']:.2%}" == "78.06%" and big["cost"] == pytest.approx(1.23, abs=1e-9)
    assert (small["model"], small["correct"], small["total"]) == (SMALL, 298, 345)
    assert f"{small['accuracy']:.2%}" == "86.38%" and small["cost"] == pytest.approx(0.01, abs=1e-9)
    assert (overall["correct"], overall["total"]) == (419, 500) and overall["accuracy"] == pytest.approx(0.838)
    # every delegated answer came from the big model's earlier run: nothing was asked again
    assert summary["oracle_answers"] == {"asked": 0, "reused": 155}
    rows = {r["system"]: r for r in summary["performance"]}
    assert rows[f"small model alone ({SMALL})"]["accuracy"] == pytest.approx(328 / 500)
    assert rows[f"big model alone ({BIG})"]["accuracy"] is None  # it only answered the delegated questions
    tokens = rows["delegation: uncertain + missing tokens"]
    assert tokens["accuracy"] == pytest.approx(0.838) and tokens["delegated"] == 155
    # the small model answered all 500 (10,000 + 4,650 tokens at $1/1M); the big model 155 at $1.23
    assert tokens["cost"] == pytest.approx(0.01 + 155 * 30 / 1e6 + 1.23)
    # the sweep reaches 100% only as far as the big model's answers are known (155 of 500)
    sweep_points = RunStore.open(store.run_id, home).outputs_dir / "delegation.json"
    assert sweep_points.exists()


def test_sweep_frontier_and_picks() -> None:
    # four answers, lowest P(confident) first: d (wrong, big right), c (wrong, big wrong), b (right), a (right)
    answers = [Answer("a", True, True, 0.9, 0.01, True, 1.0), Answer("b", True, True, 0.7, 0.01, False, 1.0),
               Answer("c", False, False, 0.4, 0.01, False, 1.0), Answer("d", False, None, 0.1, 0.01, True, 1.0)]
    points = sweep(answers)
    assert [p["k"] for p in points] == [0, 1, 2, 3, 4]
    assert [p["accuracy"] for p in points] == [0.5, 0.75, 0.75, 0.5, 0.5]
    assert [p["cost"] for p in points] == pytest.approx([0.04, 1.04, 2.04, 3.04, 4.04])
    assert [p["threshold"] for p in points] == [0.1, 0.4, 0.7, 0.9, None]
    assert pick_point(points, target_accuracy=0.7)["k"] == 1  # cheapest reaching 70%
    assert pick_point(points, budget=0.5)["k"] == 0  # nothing delegable within $0.50
    assert pick_point(points, budget=5.0)["k"] == 1  # most accurate within budget, then cheapest
    assert pick_point(points, target_accuracy=0.9) is None
    assert pick_point(points) is None
    rows = handoff(answers, [False, False, True, True], "s", "b")
    assert [(r["correct"], r["total"]) for r in rows] == [(1, 2), (2, 2), (3, 4)]


def test_sweep_stops_where_big_answers_are_unknown() -> None:
    answers = [Answer("a", True, True, None, 0.0), Answer("b", False, False, None, 0.0, True, 2.0),
               Answer("c", False, None, None, 0.0, False, 1.0)]
    points = sweep(answers)
    # without P: missing first, then uncertain; the confident one was never sent
    assert [p["accuracy"] for p in points] == [pytest.approx(1 / 3), pytest.approx(1 / 3), pytest.approx(2 / 3),
                                               None]
    assert all(p["threshold"] is None for p in points)


def test_rules_with_and_without_a_calibrated_threshold() -> None:
    answers = {"confident, high P": Answer("a", True, True, 0.9, 0.0),
               "confident, low P": Answer("b", False, True, 0.2, 0.0),
               "uncertain, high P": Answer("c", True, False, 0.8, 0.0),
               "uncertain, no P": Answer("d", False, False, None, 0.0),
               "missing, low P": Answer("e", False, None, 0.1, 0.0),
               "missing, no P": Answer("f", False, None, None, 0.0)}

    def sent(rule: Rule) -> set[str]:
        return {name for name, a in answers.items() if rule.delegates(a)}

    assert sent(Rule()) == {"uncertain, high P", "uncertain, no P", "missing, low P", "missing, no P"}
    # a threshold of the delegation spec adds low-P confident answers to the tokens' rule (as before)
    assert sent(Rule(0.5, source="spec")) == sent(Rule()) | {"confident, low P"}
    # the evaluation's calibrated threshold: P decides where known, the written token only where it is not
    assert sent(Rule(0.5, calibrated=True, source="evaluation-x")) == {"confident, low P", "uncertain, no P",
                                                                       "missing, low P", "missing, no P"}
    assert Rule(0.5, calibrated=True, source="evaluation-x").label() == "delegation: P(confident) < 0.5 (calibrated)"
