"""Calibration metrics against values computed by hand (see the comments for the arithmetic)."""

from __future__ import annotations

import pytest

from experiments.stages.evaluation import metrics as m

# five answers ranked by P(confident); 3 right (0.9, 0.8, 0.6), 2 wrong (0.7, 0.3)
P = [0.9, 0.8, 0.7, 0.6, 0.3]
RIGHT = [True, True, False, True, False]


def test_auroc_by_pair_count() -> None:
    # positive-negative pairs ranked correctly: 0.9>0.7, 0.9>0.3, 0.8>0.7, 0.8>0.3, 0.6>0.3; not 0.6>0.7 -> 5/6
    assert m.auroc(P, RIGHT) == pytest.approx(5 / 6)
    assert m.auroc([0.5, 0.4], [True, True]) is None  # one class: undefined
    # unknown P is left out, not guessed
    assert m.auroc([*P, None], [*RIGHT, False]) == pytest.approx(5 / 6)


def test_ece_brier_and_bins() -> None:
    p = [0.05, 0.15, 0.95, 0.95, 0.55]
    right = [False, True, True, False, True]
    # bins: 0 {0.05: acc 0} -> .05; 1 {0.15: acc 1} -> .85; 5 {0.55: acc 1} -> .45; 9 {0.95, 0.95: acc .5} -> .45 x 2
    assert m.ece(p, right) == pytest.approx((0.05 + 0.85 + 0.45 + 2 * 0.45) / 5)
    # (0.05^2 + 0.85^2 + 0.05^2 + 0.95^2 + 0.45^2) / 5
    assert m.brier(p, right) == pytest.approx((0.0025 + 0.7225 + 0.0025 + 0.9025 + 0.2025) / 5)
    bins = m.reliability_bins(p, right)
    assert [b["count"] for b in bins] == [1, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    assert bins[9]["mean_confidence"] == pytest.approx(0.95) and bins[9]["accuracy"] == 0.5
    assert bins[2]["accuracy"] is None
    # edges: 1.0 in the last bin, 0.1 opens bin 1; five bins when asked
    assert m.bin_index(1.0) == 9 and m.bin_index(0.1) == 1 and m.bin_index(0.0) == 0
    assert m.ece([0.1, 0.3], [True, False], n_bins=5) == pytest.approx((0.9 + 0.3) / 2)


def test_calibration_accuracy_counts_missing_as_wrong() -> None:
    right = [True, True, False, False, True, False]
    tokens = [True, False, False, True, None, None]
    # hits: confident+right, uncertain+wrong; the two missing count against it even when the answer was wrong
    assert m.calibration_accuracy(right, tokens) == pytest.approx(2 / 6)
    assert m.token_distribution(tokens) == {"confident": 2, "uncertain": 2, "missing": 2}


def test_selective_accuracy_at_coverages() -> None:
    expected = {0.2: 1.0, 0.4: 1.0, 0.6: 2 / 3, 0.8: 3 / 4, 1.0: 3 / 5}
    for coverage, acc in expected.items():
        assert m.selective_accuracy(P, RIGHT, coverage) == pytest.approx(acc), coverage
    curve = m.selective_curve(P, RIGHT)
    assert [(pt["answered"], pt["accuracy"]) for pt in curve] == [(1, 1.0), (2, 1.0), (3, pytest.approx(2 / 3)),
                                                                  (4, 0.75), (5, 0.6)]
    # ties are answered together: one point for both 0.8s
    tied = m.selective_curve([0.9, 0.8, 0.8], [True, False, True])
    assert [(pt["threshold"], pt["answered"]) for pt in tied] == [(0.9, 1), (0.8, 3)]


def test_summary_metrics() -> None:
    s = m.summary_metrics(RIGHT, [True, True, None, False, False], P)
    assert s["n"] == 5 and s["accuracy"] == pytest.approx(0.6) and s["scored"] == 5
    assert s["calibration_accuracy"] == pytest.approx(3 / 5)
    assert s["tokens"] == {"confident": 2, "uncertain": 2, "missing": 1}
    assert len(s["reliability"]) == 10 and len(s["selective"]) == 5


def test_best_threshold_maximises_agreement_tie_toward_one_half() -> None:
    # candidates for P: 0.15 (all confident), 0.45, 0.65, 0.75, 0.85, 0.95 (none); answers where (P >= t) == right:
    # 0.15 -> 3 (the right ones); 0.45 -> 4 (+0.3 wrong); 0.65 -> 3; 0.75 -> 4; 0.85 -> 3; 0.95 -> 2 (the wrong ones)
    # 0.45 and 0.75 tie at 4 of 5: 0.45 is closer to 0.5
    assert m.best_threshold(P, RIGHT) == pytest.approx(0.45)
    # 0.375 and 0.625 both get 3 of 4 and are 0.125 from 0.5: the lower wins
    assert m.best_threshold([0.25, 0.5, 0.5, 0.75], [False, True, False, True]) == 0.375
    # all right: 0.1 (everything confident, 2 of 2) beats 0.3 (1) and 0.7 (0)
    assert m.best_threshold([0.2, 0.4], [True, True]) == pytest.approx(0.1)
    # all wrong with a top P of 1.0: no t in [0, 1] makes 1.0 uncertain, so 0.75 (1 of 2) beats 0.25 (0 of 2)
    assert m.best_threshold([0.5, 1.0], [False, False]) == pytest.approx(0.75)
    # unknown P is left out; none known: no threshold
    assert m.best_threshold([None, 0.2, None, 0.8], [True, False, False, True]) == pytest.approx(0.5)
    assert m.best_threshold([None, None], [True, False]) is None and m.best_threshold([], []) is None


def test_decision_at_threshold_and_its_summary() -> None:
    # P decides where known (0.5 counts as confident at t = 0.5), else the written token; no token, no P: missing
    assert m.at_threshold([0.9, None, 0.2, None, 0.5], [False, True, True, None, False], 0.5) == [
        True, True, False, None, True]
    s = m.summary_metrics(RIGHT, [True, True, None, False, False], P, threshold=0.45)
    # decided: 0.9 0.8 0.7 0.6 confident, 0.3 uncertain; against RIGHT only the wrong 0.7 misses -> 4/5
    assert s["threshold"] == 0.45 and s["calibration_accuracy_at_threshold"] == pytest.approx(4 / 5)
    assert s["tokens_at_threshold"] == {"confident": 4, "uncertain": 1, "missing": 0}
    assert s["calibration_accuracy"] == pytest.approx(3 / 5)  # the written tokens' figure is unchanged
    assert "threshold" not in m.summary_metrics(RIGHT, [True] * 5, P)
