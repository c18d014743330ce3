"""View models of the Curation screen (plain Python + numpy; no Textual).

`CurationView` holds a weak and a strong run's pass rates aligned per question as numpy arrays, with their
bucket codes computed once. Moving a threshold is `apply(low, high)`: a vectorised mask and two bincounts, O(n)
(about 10 ms for a million questions), so the screen can redraw on every key press.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from experiments.runs.store import RunStore
from experiments.stages.curation.buckets import BUCKETS, bucket_codes, bucket_counts, kept_counts, shifted
from experiments.stages.curation.filters import keep_mask
from experiments.stages.curation.passrates import (
    DEFAULT_OPTIONS,
    VerdictOptions,
    load_passrates,
    read_chunk_columns,
)

RATED_STAGES = ("grading", "judging", "tagging")
BAR_WIDTH = 24
STEP = 0.05


@dataclass(frozen=True)
class RunChoice:
    id: str
    stage: str
    title: str
    model: str
    dataset: str = ""  # the records' source (the questions)
    root: str = ""  # the inference run whose answers these verdicts are of

    @property
    def label(self) -> str:
        return f"{self.id}  {self.model}  {self.title}".rstrip()


def rated_runs(home: str | os.PathLike[str] | None) -> list[RunChoice]:
    """Finished runs with verdicts (graded, judged, tagged), newest first: the choices for weak and strong."""
    choices = []
    for store in RunStore.list(home):
        m = store.manifest()
        if m.get("stage") in RATED_STAGES and store.effective_status() == "done":
            first = _first_record(store)
            choices.append(RunChoice(store.run_id, str(m.get("stage")), str(m.get("title") or ""),
                                     str(first.get("model", "")), str(first.get("source", "")),
                                     _root(store, home)))
    return choices


def _first_record(store: RunStore) -> dict[str, Any]:
    import json

    chunks = store.done_chunks()
    if not chunks:
        return {}
    with store.chunk_path(chunks[0]).open("rb") as fh:
        return dict(json.loads(fh.readline() or b"{}"))


def _root(store: RunStore, home: str | os.PathLike[str] | None) -> str:
    """The first run of its lineage (a grading run's inference run; a tagging run's, through its grading run)."""
    from experiments.runs.lineage import inputs_of

    seen = {store.run_id}
    while True:
        parents = [p for p in inputs_of(store, home) if p.run_id not in seen]
        if not parents:
            return store.run_id
        store = parents[0]
        seen.add(store.run_id)


def pairable(weak: RunChoice, strong: RunChoice) -> bool:
    """Two runs curation can compare: verdicts of different answers (not a grading run and the tagging run over
    it) to the same questions."""
    return weak.root != strong.root and (not weak.dataset or not strong.dataset or weak.dataset == strong.dataset)


def partners(weak: RunChoice, choices: list[RunChoice]) -> list[RunChoice]:
    """The strong runs that pair with `weak`: other models' first, then the same model's (another sampling)."""
    found = [c for c in choices if pairable(weak, c)]
    return sorted(found, key=lambda c: c.model == weak.model)


def default_pair(choices: list[RunChoice], weak: str | None = None,
                 strong: str | None = None) -> tuple[str | None, str | None]:
    """A weak and a strong run that make a pair: the asked ones where they pair, else the newest that do."""
    by_id = {c.id: c for c in choices}
    if weak in by_id and strong in by_id and pairable(by_id[weak], by_id[strong]):
        return weak, strong
    order = ([by_id[weak]] if weak in by_id else []) + [c for c in choices if c.id != weak]
    for candidate in order:
        found = partners(candidate, choices)
        if found:
            return candidate.id, found[0].id
    return (weak if weak in by_id else (choices[0].id if choices else None)), None


def pairing_problem(choices: list[RunChoice], weak: str | None) -> str:
    """Why no pair can be shown, and what would make one ("" when a pair exists)."""
    need = ("curation compares two runs' verdicts on the same questions: a weak and a strong model's graded "
            "(or judged) runs")
    if not choices:
        return (f"No finished graded or judged runs yet; {need}. Grade two models' answers first, e.g. "
                "`confconsole infer --dataset arith --model M --then grading` for each model.")
    chosen = next((c for c in choices if c.id == weak), None)
    if chosen is None or partners(chosen, choices):
        return ""
    same = [c for c in choices if c.root == chosen.root and c.id != chosen.id]
    verb = "holds" if len(same) == 1 else "hold"
    also = f" ({', '.join(c.id for c in same)} {verb} verdicts of the same answers)" if same else ""
    return (f"Nothing pairs with {chosen.id}{also}: {need}. Grade another model's answers to "
            f"{chosen.dataset or 'these questions'} (`confconsole infer --model BIG --then grading`), then pick "
            "it as strong.")


@dataclass(frozen=True)
class BucketLine:
    bucket: str
    total: int
    kept: int
    bar: str


@dataclass(frozen=True)
class ThresholdState:
    low_thresh: float
    high_thresh: float
    questions: int
    kept: int
    weak: list[BucketLine]
    strong: list[BucketLine]


@dataclass(frozen=True)
class QuestionRow:
    example_id: str
    index: int | None
    low_pass_rate: float
    high_pass_rate: float
    kept: bool


def bars(total: np.ndarray, kept: np.ndarray, width: int = BAR_WIDTH) -> list[BucketLine]:
    """Kept share drawn solid, dropped share light, scaled to the largest bucket."""
    top = max(1, int(total.max(initial=0)))
    lines = []
    for name, t, k in zip(BUCKETS, total.tolist(), kept.tolist(), strict=True):
        solid, light = round(width * k / top), round(width * t / top) - round(width * k / top)
        lines.append(BucketLine(name, t, k, "█" * solid + "░" * max(0, light)))
    return lines


class CurationView:
    """Aligned per-question rates of a weak and a strong run."""

    def __init__(self, ids: np.ndarray, index: np.ndarray, low: np.ndarray, high: np.ndarray,
                 weak_run: str = "", strong_run: str = "") -> None:
        self.ids, self.index, self.low, self.high = ids, index, low, high
        self.weak_run, self.strong_run = weak_run, strong_run
        self.low_codes, self.high_codes = bucket_codes(low), bucket_codes(high)
        self.low_total, self.high_total = bucket_counts(self.low_codes), bucket_counts(self.high_codes)
        self._low_shifted, self._high_shifted = shifted(self.low_codes), shifted(self.high_codes)

    @classmethod
    def from_tables(cls, weak: Any, strong: Any, weak_run: str = "", strong_run: str = "") -> CurationView:
        """Align two pass-rate tables by example id (a question missing in one run gets NaN there)."""
        if weak.column("example_id").equals(strong.column("example_id")):
            return cls(np.asarray(weak.column("example_id").to_pylist(), dtype=object),
                       weak.column("index").fill_null(-1).to_numpy(),
                       weak.column("rate").to_numpy(zero_copy_only=False),
                       strong.column("rate").to_numpy(zero_copy_only=False), weak_run, strong_run)
        w = weak.select(["example_id", "index", "rate"]).to_pandas()
        s = strong.select(["example_id", "index", "rate"]).to_pandas()
        m = w.merge(s, on="example_id", how="outer", suffixes=("_w", "_s"), sort=True)
        index = m["index_w"].fillna(m["index_s"]).fillna(-1).to_numpy(dtype=np.int64)
        return cls(m["example_id"].to_numpy(dtype=object), index, m["rate_w"].to_numpy(dtype=np.float64),
                   m["rate_s"].to_numpy(dtype=np.float64), weak_run, strong_run)

    @classmethod
    def load(cls, weak: RunStore, strong: RunStore, opts: VerdictOptions = DEFAULT_OPTIONS) -> CurationView:
        return cls.from_tables(load_passrates(weak, opts), load_passrates(strong, opts), weak.run_id,
                               strong.run_id)

    def __len__(self) -> int:
        return len(self.low)

    def apply(self, low_thresh: float, high_thresh: float) -> ThresholdState:
        mask = keep_mask(self.low, self.high, low_thresh, high_thresh)
        weak_kept = kept_counts(self._low_shifted, mask)
        strong_kept = kept_counts(self._high_shifted, mask)
        return ThresholdState(low_thresh, high_thresh, len(self), int(mask.sum()),
                              bars(self.low_total, weak_kept), bars(self.high_total, strong_kept))

    def bucket_questions(self, role: str, bucket: str, low_thresh: float, high_thresh: float,
                         limit: int = 500) -> list[QuestionRow]:
        """The first `limit` questions of one bucket of one model, with both rates and whether they are kept."""
        codes = self.low_codes if role == "weak" else self.high_codes
        rows = np.flatnonzero(codes == BUCKETS.index(bucket))[:limit]
        mask = keep_mask(self.low[rows], self.high[rows], low_thresh, high_thresh)
        return [QuestionRow(str(self.ids[i]), int(self.index[i]) if self.index[i] >= 0 else None,
                            float(self.low[i]), float(self.high[i]), bool(k)) for i, k in zip(rows, mask, strict=True)]


def step(value: float, delta: float) -> float:
    """A threshold moved by one step, kept in [0, 1] and free of float drift (0.1 + 0.05 -> 0.15)."""
    return round(min(1.0, max(0.0, value + delta)), 4)


def question_texts(store: RunStore, ids: list[str]) -> dict[str, str]:
    """Question text of `ids`, read chunk by chunk (two columns) until all are found."""
    wanted, found = set(ids), {}
    for index in store.done_chunks():
        table = read_chunk_columns(store.chunk_path(index), [("example_id", "string"), ("question", "string")])
        for eid, question in zip(table.column("example_id").to_pylist(), table.column("question").to_pylist(),
                                 strict=True):
            if eid in wanted and eid not in found:
                found[eid] = question or ""
        if len(found) == len(wanted):
            break
    return found


def source_file_of(store: RunStore, home: str | os.PathLike[str] | None = None) -> str:
    """The local file a graded run's questions came from (row i = record index i), following its inputs back to
    the inference run; '' when that is a built-in or hub dataset (the filter then builds rows from the records)."""
    import tomllib
    from pathlib import Path

    for _ in range(8):  # grading <- judging <- inference chains are short
        spec = tomllib.loads(store.spec_text())
        if spec.get("stage") == "inference":
            dataset = spec.get("dataset", {})
            for candidate in (dataset.get("path"), dataset.get("source")):
                path = Path(str(candidate or ""))
                if path.suffix in (".parquet", ".jsonl", ".csv") and path.is_file():
                    return str(path)
            return ""
        inputs = store.manifest().get("inputs") or []
        if not inputs:
            return ""
        store = RunStore.open(inputs[0], home)
    return ""
