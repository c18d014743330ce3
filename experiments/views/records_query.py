"""Filters, counts and pages over a `RecordsIndex`, with the human review layer folded in at read time.

`RecordsView` turns the index's light columns into int8 verdict arrays (rule, judge, human: 1 right, 0 wrong, -1
none; human 2 = skipped) and answers the Records screen's questions with numpy: a mask for a filter under a
verdict policy, the counts of every filter, the domains and tokens present. `Selection` is one filter + search:
its pages are read by offset, lazily, so a search over a million records shows its first page as soon as the text
row groups that hold it were scanned.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from experiments.reviews.policy import combine, table_verdicts
from experiments.views.records_index import IndexStale, RecordsIndex

FILTERS = ("all", "correct", "incorrect", "ungraded", "reviewed", "disagree")
LOW_JUDGE_CONFIDENCE = 0.6


class RecordsView:
    """Verdict arrays of one index plus the reviews that apply to it."""

    def __init__(self, index: RecordsIndex, reviews: Mapping[tuple[str, int], Any] | None = None,
                 readers: Sequence[RecordsIndex] = ()) -> None:
        self.index = index
        n = index.count
        # readers: runs that add fields to these records (an inference run's grading, judging, tagging runs),
        # joined on (example_id, sample_idx); their values fill what this run's records leave empty
        self.readers = [(reader, join_rows(index, reader)) for reader in readers if reader.count and n]
        self.rule, self.judge, self.copied_human = table_verdicts(index.light)  # tagging copies human verdicts
        correct = index.bools("correct")
        for reader, rows in self.readers:
            rule, judge, human = table_verdicts(reader.light)
            self.rule, self.judge = _fill(self.rule, rule, rows), _fill(self.judge, judge, rows)
            self.copied_human = _fill(self.copied_human, human, rows)
            correct = _fill(correct, reader.bools("correct"), rows)
        self._joined_codes: dict[str, tuple[np.ndarray, list[str]]] = {}
        self.recorded = np.where(correct >= 0, correct, self.judge).astype(np.int8)
        self.human = self.copied_human.copy()
        self.reviewed_rows = np.zeros(n, dtype=bool)  # rows with a review of their own (not copied)
        if reviews:
            self.apply_reviews(reviews)

    @property
    def count(self) -> int:
        return self.index.count

    def apply_reviews(self, reviews: Mapping[tuple[str, int], Any]) -> None:
        """Fold reviews (key -> Review) in; reviews of records this run does not hold are ignored."""
        keys = list(reviews)
        rows = self.index.rows_of(keys)
        for key, row in zip(keys, rows.tolist(), strict=True):
            if row >= 0:
                self.set_review(row, reviews[key])

    def set_review(self, row: int, review: Any) -> None:
        """One record's review changed (a keypress): None or an undone review clears it."""
        if review is None or not review.decided:
            self.human[row] = self.copied_human[row]
            self.reviewed_rows[row] = False
        else:
            self.human[row] = {"correct": 1, "wrong": 0}.get(review.verdict, 2)
            self.reviewed_rows[row] = True

    # -- verdicts and masks --------------------------------------------------------------------------------
    def verdict(self, policy: str = "auto") -> np.ndarray:
        """Each record's verdict under `policy` (1, 0, -1); `auto` is the recorded one (rule, else judge)."""
        if policy == "auto":
            return self.recorded
        return combine(policy, self.rule, self.judge, self.human)[0]

    def disagreement(self) -> np.ndarray:
        """Records whose rule, judge and human verdicts (those present) are not all the same."""
        human = np.where(self.human > 1, -1, self.human)
        stacked = np.stack([self.rule, self.judge, human])
        return (stacked == 1).any(axis=0) & (stacked == 0).any(axis=0)

    def mask(self, which: str = "all", policy: str = "auto", domain: str | None = None,
             token: str | None = None) -> np.ndarray:
        if which not in FILTERS:
            raise ValueError(f"unknown filter {which!r}; one of {', '.join(FILTERS)}")
        if which in ("correct", "incorrect", "ungraded"):
            verdict = self.verdict(policy)
            mask = verdict == {"correct": 1, "incorrect": 0, "ungraded": -1}[which]
        elif which == "reviewed":
            mask = self.reviewed_rows | (self.copied_human >= 0)
        elif which == "disagree":
            mask = self.disagreement()
        else:
            mask = np.ones(self.count, dtype=bool)
        for name, value in (("domain", domain), ("confidence_token", token)):
            if value is not None:
                codes, values = self.codes(name)
                mask &= codes == (values.index(value) if value in values else -2)
        return mask

    def counts(self, policy: str = "auto", domain: str | None = None, token: str | None = None) -> dict[str, int]:
        return {which: int(self.mask(which, policy, domain, token).sum()) for which in FILTERS}

    def codes(self, name: str) -> tuple[np.ndarray, list[str]]:
        """A dictionary column as (codes, values), the readers' values filling this run's empty ones."""
        if not self.readers:
            return self.index.codes(name)
        if name not in self._joined_codes:
            codes, values = self.index.codes(name)
            values = list(values)
            for reader, rows in self.readers:
                theirs, their_values = reader.codes(name)
                if not len(theirs):
                    continue
                lookup = {v: i for i, v in enumerate(values)}
                for v in their_values:
                    if v not in lookup:
                        lookup[v] = len(values)
                        values.append(v)
                remap = np.array([lookup[v] for v in their_values] + [-1], dtype=np.int32)
                codes = _fill(codes, remap[theirs], rows)
            self._joined_codes[name] = (codes, values)
        return self._joined_codes[name]

    def floats(self, name: str) -> np.ndarray:
        values = self.index.floats(name).astype(float)
        for reader, rows in self.readers:
            theirs = reader.floats(name).astype(float)
            take = (values != values) & (rows >= 0)
            values = np.where(take, theirs[rows.clip(0)], values)
        return values

    def records(self, rows: Any) -> list[dict[str, Any]]:
        """Whole records at `rows`, each with the fields its readers add (those this run's record leaves empty)."""
        records = self.index.records(rows)
        rows = np.asarray(rows, dtype=np.int64)
        for reader, mapping in self.readers:
            theirs = mapping[rows] if len(rows) else np.zeros(0, dtype=np.int64)
            have = np.flatnonzero(theirs >= 0)
            try:
                found = reader.records(theirs[have])
            except IndexStale:
                continue  # the reader is still writing: its fields show after a reload
            for position, other in zip(have.tolist(), found, strict=True):
                mine = records[position]
                records[position] = {**mine, **{k: v for k, v in other.items() if mine.get(k) is None}}
        return records

    def values(self, name: str) -> list[str]:
        """The values of a dictionary column present in the run (domains, tokens), sorted."""
        codes, values = self.codes(name)
        present = np.unique(codes[codes >= 0]) if len(codes) else []
        return sorted(values[i] for i in present)

    def has_verdicts(self) -> bool:
        return bool((self.rule >= 0).any() or (self.judge >= 0).any())

    def select(self, which: str = "all", policy: str = "auto", domain: str | None = None, token: str | None = None,
               query: str = "") -> Selection:
        return Selection(self, self.mask(which, policy, domain, token), query)


class Selection:
    """The rows one filter and search select, in run order, read a page at a time (the Records screen's pager)."""

    def __init__(self, view: RecordsView, mask: np.ndarray, query: str = "") -> None:
        self.view = view
        self.query = query
        self.loaded = 0
        self.exhausted = False
        self._mask = mask
        self._found: list[np.ndarray] = []
        self._scan: Iterator[np.ndarray] | None = view.index.search(query, mask) if query else None
        self._rows: np.ndarray | None = None if query else np.flatnonzero(mask)
        self.page_rows: list[int] = []  # row numbers of every record handed out so far

    @property
    def count(self) -> int | None:
        """Matching records; None while a search has not scanned everything yet."""
        return None if self._rows is None else len(self._rows)

    def rows(self) -> np.ndarray:
        """Every matching row (finishes a search's scan)."""
        while self._rows is None:
            self._pull()
        return self._rows

    def _pull(self) -> None:
        assert self._scan is not None
        try:
            self._found.append(next(self._scan))
        except StopIteration:
            self._rows = np.concatenate(self._found) if self._found else np.zeros(0, dtype=np.int64)

    def next_rows(self, size: int) -> np.ndarray:
        """The next `size` matching rows (fewer at the end)."""
        if self.exhausted:
            return np.zeros(0, dtype=np.int64)
        while self._rows is None and sum(map(len, self._found)) < self.loaded + size:
            self._pull()
        known = self._rows if self._rows is not None else np.concatenate(self._found)
        rows = known[self.loaded:self.loaded + size]
        self.loaded += len(rows)
        if self._rows is not None and self.loaded >= len(self._rows):
            self.exhausted = True
        return rows

    def next_page(self, size: int) -> list[dict[str, Any]]:
        """The next page of whole records (read by offset)."""
        rows = self.next_rows(size)
        self.page_rows.extend(rows.tolist())
        return self.view.records(rows)


def join_rows(index: RecordsIndex, other: RecordsIndex) -> np.ndarray:
    """For each row of `index`, the row of `other` with the same (example_id, sample_idx), or -1. Sorted keys and
    one binary search: well under a second at a million rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes, values = index.codes("example_id")
    their_codes, their_values = other.codes("example_id")
    to_mine = pc.index_in(pa.array(their_values, pa.string()), value_set=pa.array(values, pa.string()))
    to_mine = np.append(to_mine.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64), -1)
    mapped = to_mine[their_codes]
    theirs = mapped * (1 << 24) + other.sample_idx.astype(np.int64)
    valid = np.flatnonzero(mapped >= 0)
    order = valid[np.argsort(theirs[valid], kind="stable")]
    keys = theirs[order]
    mine = codes.astype(np.int64) * (1 << 24) + index.sample_idx.astype(np.int64)
    if not len(keys):
        return np.full(index.count, -1, dtype=np.int64)
    pos = np.searchsorted(keys, mine).clip(0, len(keys) - 1)
    return np.where((codes >= 0) & (keys[pos] == mine), order[pos], -1).astype(np.int64)


def _fill(mine: np.ndarray, theirs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`mine` with its empty (-1) entries taken from `theirs` at the joined rows."""
    take = (mine < 0) & (rows >= 0)
    return np.where(take, theirs[rows.clip(0)], mine).astype(mine.dtype)
