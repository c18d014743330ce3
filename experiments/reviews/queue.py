"""The review queue: which records a person should look at first.

Disagreements first: the rule grader and the judge disagree, then the judge gave no usable verdict, then no
answer was extracted (or no verdict exists at all), then the judge said it was unsure; then the rest, each group
in run order. Computed with numpy over the index's columns, so a million-record run queues in well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.views.records_query import LOW_JUDGE_CONFIDENCE, RecordsView

REASONS = ("rule and judge disagree", "judge verdict invalid", "no answer extracted", "low judge confidence", "")


def reason_codes(view: RecordsView, rows: np.ndarray) -> np.ndarray:
    """Priority of each row (an index into REASONS; lower comes first)."""
    rule, judge = view.rule[rows], view.judge[rows]
    judge_codes, _ = view.codes("judge_status")
    grade_codes, grade_values = view.codes("grade_status")
    no_answer = grade_codes[rows] == (grade_values.index("no_answer") if "no_answer" in grade_values else -2)
    confidence = view.floats("judge_confidence")[rows]
    code = np.full(len(rows), len(REASONS) - 1, dtype=np.int8)
    low = (confidence == confidence) & (confidence < LOW_JUDGE_CONFIDENCE)  # NaN (no confidence given) is not low
    code[low] = 3
    code[no_answer | ((rule < 0) & (judge < 0))] = 2
    code[(judge_codes[rows] >= 0) & (judge < 0)] = 1
    code[(rule >= 0) & (judge >= 0) & (rule != judge)] = 0
    return code


@dataclass
class ReviewQueue:
    """Rows in review order with why each is there; `position` is the one on screen."""

    view: RecordsView
    rows: np.ndarray
    reasons: np.ndarray
    position: int = 0

    @classmethod
    def build(cls, view: RecordsView, rows: np.ndarray | None = None) -> ReviewQueue:
        rows = np.arange(view.count) if rows is None else np.asarray(rows, dtype=np.int64)
        codes = reason_codes(view, rows)
        order = np.argsort(codes, kind="stable")
        queue = cls(view, rows[order], codes[order])
        queue.position = queue.next_open(0)
        return queue

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def row(self) -> int:
        return int(self.rows[self.position])

    @property
    def reason(self) -> str:
        return REASONS[int(self.reasons[self.position])]

    def decided(self) -> np.ndarray:
        """Per queue entry: looked at (marked correct, wrong or skipped)."""
        return self.view.reviewed_rows[self.rows]

    def progress(self) -> tuple[int, int, int]:
        """(reviewed with a verdict, skipped, total)."""
        human = self.view.human[self.rows]
        decided = self.decided()
        return int((decided & (human <= 1) & (human >= 0)).sum()), int((decided & (human == 2)).sum()), len(self)

    def next_open(self, start: int) -> int:
        """The first entry at or after `start` nobody has looked at yet, wrapping around; `start` when all were."""
        if not len(self):
            return 0
        open_ = ~self.decided()
        after = np.flatnonzero(open_[start:])
        if len(after):
            return start + int(after[0])
        before = np.flatnonzero(open_[:start])
        return int(before[0]) if len(before) else min(start, len(self) - 1)

    def find(self, row: int) -> int | None:
        hits = np.flatnonzero(self.rows == row)
        return int(hits[0]) if len(hits) else None
