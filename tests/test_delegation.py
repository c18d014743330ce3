"""Delegation: the reference's hand-off table exactly (pure tables and the real stage reusing the big model's
run), the threshold sweep and the picked points."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from experiments import jobs
from experiments.stages.delegation.spec import DelegationSpec
from experiments.stages.delegation.tables import Answer, handoff, pick_point, sweep
from experiments.store import RunStore
from tests.calibration_fixtures import BIG, PRICES, SMALL, reference_runs


def wait_done(run_id: str, home: Path, timeout: float = 120) -> RunStore:
    store = RunStore.open(run_id, home)
    deadline = time.monotonic() + timeout
    while store.effective_status() in ("running", "queued"):
        assert time.monotonic() < deadline, f"{run_id} did not finish"
        time.sleep(0.2)
    assert store.effective_status() == "done", (store.manifest().get("error"), store.log_path.read_text()[-3000:])
    return store


def test_reference_handoff_table_and_overall_accuracy(home: Path) -> None:
    evaluation, oracle = reference_runs(home)
    spec = DelegationSpec(input_run=evaluation.run_id, oracle_run=oracle.run_id, oracle_model=BIG,
                          scope="delegated", prices=PRICES, target_accuracy=0.8)
    store = wait_done(jobs.launch(spec, home), home)
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
    assert rows[f"{SMALL} alone"]["accuracy"] == pytest.approx(328 / 500)
    assert rows[f"{BIG} alone"]["accuracy"] is None  # it only answered the delegated questions
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
