"""One person reviewing one run: the run's own `reviews.jsonl`, the reviews it inherits from its inputs, and the
records view they fold into. The Records and Review screens call only this (no Textual here)."""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.reviews.lineage import lineage_reviews, lineage_runs
from experiments.reviews.store import Key, Review, ReviewStore
from experiments.runs.store import RunStore
from experiments.views.records_query import RecordsView


class ReviewSession:
    def __init__(self, store: RunStore, view: RecordsView) -> None:
        self.store = store
        self.view = view
        self.reviews = ReviewStore(store.dir)
        parents = lineage_runs(store)[1:]
        self.inherited: dict[Key, Review] = lineage_reviews(parents[0]) if parents else {}
        view.apply_reviews({**self.inherited, **self.reviews.reviewed()})

    def review_of(self, row: int) -> Review | None:
        """The review that counts for a record: this run's own, else one inherited from its inputs."""
        key = self.view.index.key(row)
        own = self.reviews.get(*key)
        if own is not None and own.decided:
            return own
        return self.inherited.get(key)

    def mark(self, row: int, verdict: str, note: str = "") -> Review:
        """Durable when it returns (one fsynced line)."""
        key = self.view.index.key(row)
        review = self.reviews.mark(key[0], key[1], verdict, note)
        self.view.set_review(row, review)
        return review

    def undo(self) -> int | None:
        """Take back this run's latest mark: the row it concerned (-1 if not in this run), None if nothing to undo."""
        review = self.reviews.undo()
        if review is None:
            return None
        row = int(self.view.index.rows_of([review.key])[0])
        if row >= 0:
            self.view.set_review(row, self.review_of(row))
        return row

    def counts(self) -> dict[str, Any]:
        own = self.reviews.reviewed()
        return {"own": len(own), "inherited": len(self.inherited),
                "rows": int(np.count_nonzero(self.view.reviewed_rows))}
