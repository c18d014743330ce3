"""Calibration metrics of a model's confidence tokens: plain functions over lists, no run store.

`confident` is True (a confident token), False (an uncertain one) or None (no token: missing). `p` is
P(confident) in [0, 1] (None where it could not be read). `correct` is the grader's verdict. scikit-learn computes
AUROC and the Brier score; ECE and the reliability bins are a few lines over equal-width bins.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

N_BINS = 10


def calibration_accuracy(correct: Sequence[bool], confident: Sequence[bool | None]) -> float | None:
    """Share of ALL answers whose token matches the verdict (confident and right, or uncertain and wrong);
    a missing token counts as a miss."""
    if not correct:
        return None
    hits = sum(1 for c, t in zip(correct, confident, strict=True) if t is not None and bool(t) == bool(c))
    return hits / len(correct)


def majority_baseline(accuracy: float | None) -> float | None:
    """The calibration accuracy of always writing the more common verdict's token (no signal at all): the bar a
    trained token has to clear."""
    return None if accuracy is None else max(accuracy, 1 - accuracy)


def token_distribution(confident: Sequence[bool | None]) -> dict[str, int]:
    return {"confident": sum(1 for t in confident if t is True),
            "uncertain": sum(1 for t in confident if t is False),
            "missing": sum(1 for t in confident if t is None)}


def scored_pairs(p: Sequence[float | None], correct: Sequence[bool]) -> tuple[list[float], list[int]]:
    """The (P(confident), correct) pairs where P is known."""
    pairs = [(float(x), int(bool(c))) for x, c in zip(p, correct, strict=True) if x is not None]
    return [x for x, _ in pairs], [c for _, c in pairs]


def auroc(p: Sequence[float | None], correct: Sequence[bool]) -> float | None:
    """How well P(confident) ranks right answers above wrong ones; None with only one class."""
    probs, labels = scored_pairs(p, correct)
    if len(set(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, probs))


def brier(p: Sequence[float | None], correct: Sequence[bool]) -> float | None:
    probs, labels = scored_pairs(p, correct)
    if not probs:
        return None
    from sklearn.metrics import brier_score_loss

    return float(brier_score_loss(labels, probs, pos_label=1))


def bin_index(x: float, n_bins: int = N_BINS) -> int:
    """Equal-width bins [0, 1/n), ..., [(n-1)/n, 1]: 1.0 falls in the last bin."""
    return min(n_bins - 1, max(0, int(math.floor(x * n_bins))))


def reliability_bins(p: Sequence[float | None], correct: Sequence[bool], n_bins: int = N_BINS) -> list[dict[str, Any]]:
    """Per bin: its edges, count, mean P(confident) and accuracy (None for an empty bin)."""
    probs, labels = scored_pairs(p, correct)
    members: list[list[int]] = [[] for _ in range(n_bins)]
    for i, x in enumerate(probs):
        members[bin_index(x, n_bins)].append(i)
    rows = []
    for b, idx in enumerate(members):
        rows.append({"bin": b, "lo": b / n_bins, "hi": (b + 1) / n_bins, "count": len(idx),
                     "mean_confidence": sum(probs[i] for i in idx) / len(idx) if idx else None,
                     "accuracy": sum(labels[i] for i in idx) / len(idx) if idx else None})
    return rows


def ece(p: Sequence[float | None], correct: Sequence[bool], n_bins: int = N_BINS) -> float | None:
    """Expected calibration error: sum over bins of (bin share) x |accuracy - mean confidence|."""
    bins = reliability_bins(p, correct, n_bins)
    total = sum(b["count"] for b in bins)
    if not total:
        return None
    return sum(b["count"] / total * abs(b["accuracy"] - b["mean_confidence"]) for b in bins if b["count"])


def selective_curve(p: Sequence[float | None], correct: Sequence[bool]) -> list[dict[str, Any]]:
    """Accuracy against coverage when answering only where P(confident) >= threshold, one point per distinct
    threshold (ties are answered together), from the most confident answer down to all of them."""
    probs, labels = scored_pairs(p, correct)
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    points, right = [], 0
    for rank, i in enumerate(order, start=1):
        right += labels[i]
        if rank == len(order) or probs[order[rank]] != probs[i]:
            points.append({"threshold": probs[i], "answered": rank, "coverage": rank / len(order),
                           "accuracy": right / rank})
    return points


def selective_accuracy(p: Sequence[float | None], correct: Sequence[bool], coverage: float) -> float | None:
    """Accuracy of the ceil(coverage x N) answers with the highest P(confident) (ties broken by order)."""
    probs, labels = scored_pairs(p, correct)
    k = math.ceil(coverage * len(probs) - 1e-9)
    if k <= 0:
        return None
    order = sorted(range(len(probs)), key=lambda i: -probs[i])[:k]
    return sum(labels[i] for i in order) / k


def best_threshold(p: Sequence[float | None], correct: Sequence[bool]) -> float | None:
    """The t that maximises the share of answers where (P(confident) >= t) matches the verdict, over the answers
    with a known P: the written token follows the training prior even where P ranks answers well, so a cut on P
    chosen on a calibration split is the fairer decision. Candidates: min/2 (all confident), the midpoints between
    consecutive distinct P values, and (max + 1)/2 (none confident; left out when max is 1.0: no t in [0, 1]
    makes P = 1.0 uncertain). Ties go to the candidate closest to 0.5, then to the lower. None when no P is known."""
    probs, labels = scored_pairs(p, correct)
    if not probs:
        return None
    values = sorted(set(probs))
    right = Counter(x for x, c in zip(probs, labels, strict=True) if c)
    wrong = Counter(x for x, c in zip(probs, labels, strict=True) if not c)
    # candidate i makes the answers with P >= values[i] confident: right ones at or above it, wrong ones below
    hits = sum(right.values())
    scored: list[tuple[int, float]] = [(hits, values[0] / 2)]
    for below, above in itertools.pairwise(values):
        hits += wrong[below] - right[below]
        middle = below + (above - below) / 2
        scored.append((hits, middle if middle > below else above))
    if values[-1] < 1.0:
        scored.append((hits + wrong[values[-1]] - right[values[-1]], (values[-1] + 1) / 2))
    return min(scored, key=lambda h_t: (-h_t[0], abs(h_t[1] - 0.5), h_t[1]))[1]


def at_threshold(p: Sequence[float | None], confident: Sequence[bool | None], threshold: float) -> list[bool | None]:
    """The decision at a threshold: P(confident) >= t where P is known, else the written token (None if none)."""
    return [t if x is None else x >= threshold for x, t in zip(p, confident, strict=True)]


def summary_metrics(correct: Sequence[bool], confident: Sequence[bool | None],
                    p: Sequence[float | None], n_bins: int = N_BINS,
                    threshold: float | None = None) -> dict[str, Any]:
    """Everything the evaluation summary reports, in one dict; with a threshold also the calibration accuracy
    and token distribution of the decision P(confident) >= threshold (`calibration_accuracy` stays the written
    tokens' figure)."""
    n = len(correct)
    scored = sum(1 for x in p if x is not None)
    accuracy = sum(1 for c in correct if c) / n if n else None
    return {
        "n": n,
        "accuracy": accuracy,
        "calibration_accuracy": calibration_accuracy(correct, confident),
        "majority_baseline": majority_baseline(accuracy),
        "tokens": token_distribution(confident),
        "scored": scored,
        "auroc": auroc(p, correct),
        "ece": ece(p, correct, n_bins),
        "brier": brier(p, correct),
        "reliability": reliability_bins(p, correct, n_bins),
        "selective": selective_curve(p, correct),
        **({} if threshold is None else threshold_metrics(correct, confident, p, threshold)),
    }


def threshold_metrics(correct: Sequence[bool], confident: Sequence[bool | None], p: Sequence[float | None],
                      threshold: float) -> dict[str, Any]:
    decided = at_threshold(p, confident, threshold)
    return {"threshold": threshold, "calibration_accuracy_at_threshold": calibration_accuracy(correct, decided),
            "tokens_at_threshold": token_distribution(decided)}
