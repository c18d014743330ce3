"""Two runs over the same questions, side by side (weak vs strong, before vs after SFT): accuracy by domain for
both, the questions where they differ, and one question's records next to each other.

A run without verdicts (an inference run) is compared through the newest grading/judging/tagging run that read it.
Records are streamed chunk by chunk; per question only counts are kept.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from experiments.runs.lineage import readers_of
from experiments.runs.store import RunStore
from experiments.views.records import iter_matching, preview, verdict

GRADED_STAGES = ("grading", "judging", "tagging", "evaluation", "delegation")


@dataclass
class QuestionTally:
    domain: str = ""
    question: str = ""
    right: int = 0
    graded: int = 0

    @property
    def rate(self) -> float | None:
        return self.right / self.graded if self.graded else None


@dataclass
class Comparison:
    a: str
    b: str
    a_label: str
    b_label: str
    common: int
    only_in_a: int
    only_in_b: int
    accuracy: list[dict[str, Any]] = field(default_factory=list)  # per domain, both runs
    differ: list[dict[str, Any]] = field(default_factory=list)  # questions whose verdicts differ, largest gap first

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def graded_run(store: RunStore, home: str | os.PathLike[str] | None = None) -> RunStore:
    """The run whose records carry verdicts: itself, or the newest graded run that read it."""
    if store.manifest().get("stage") in GRADED_STAGES:
        return store
    readers = [r for r in readers_of(store, home) if r.manifest().get("stage") in GRADED_STAGES]
    if not readers:
        raise ValueError(f"{store.run_id} has no verdicts and no grading/judging run reads it: grade it first "
                         f"(confconsole grade {store.run_id})")
    return readers[0]


def tallies(store: RunStore) -> dict[str, QuestionTally]:
    out: dict[str, QuestionTally] = {}
    for record in iter_matching(store):
        tally = out.setdefault(str(record.get("example_id")), QuestionTally(
            domain=str(record.get("domain", "")), question=preview(record.get("question"), 80)))
        v = verdict(record)
        if v != "ungraded":
            tally.graded += 1
            tally.right += v == "correct"
    return out


def _label(store: RunStore) -> str:
    m = store.manifest()
    return str(m.get("title") or m.get("stage") or store.run_id)


def compare_runs(a: RunStore, b: RunStore, home: str | os.PathLike[str] | None = None) -> Comparison:
    a, b = graded_run(a, home), graded_run(b, home)
    ta, tb = tallies(a), tallies(b)
    common = sorted(set(ta) & set(tb))
    result = Comparison(a.run_id, b.run_id, _label(a), _label(b), len(common), len(set(ta) - set(tb)),
                        len(set(tb) - set(ta)))
    domains: dict[str, list[int]] = {}
    for qid in common:
        x, y = ta[qid], tb[qid]
        d = domains.setdefault(x.domain, [0, 0, 0, 0])
        d[0] += x.right
        d[1] += x.graded
        d[2] += y.right
        d[3] += y.graded
        if x.rate is not None and y.rate is not None and x.rate != y.rate:
            result.differ.append({"example_id": qid, "domain": x.domain, "question": x.question,
                                  "a": x.rate, "b": y.rate, "gap": y.rate - x.rate})
    for domain, (ra, ga, rb, gb) in sorted(domains.items()):
        acc_a, acc_b = (ra / ga if ga else None), (rb / gb if gb else None)
        result.accuracy.append({"domain": domain, "a_graded": ga, "a_accuracy": acc_a, "b_graded": gb,
                                "b_accuracy": acc_b,
                                "delta": None if acc_a is None or acc_b is None else acc_b - acc_a})
    result.differ.sort(key=lambda r: (-abs(r["gap"]), r["example_id"]))
    return result


def question_records(store: RunStore, example_id: str) -> list[dict[str, Any]]:
    """One question's records (every sample) of a run, read chunk by chunk."""
    return [r for r in iter_matching(store) if str(r.get("example_id")) == example_id]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def compare_text(result: Comparison, limit: int = 20, question: str | None = None,
                 home: str | os.PathLike[str] | None = None) -> str:
    lines = [f"A: {result.a}  {result.a_label}", f"B: {result.b}  {result.b_label}",
             f"{result.common} questions in both (only in A: {result.only_in_a}, only in B: {result.only_in_b})",
             "", f"{'domain':<14} {'A graded':>9} {'A acc':>8} {'B graded':>9} {'B acc':>8} {'B - A':>8}"]
    for row in result.accuracy:
        delta = "-" if row["delta"] is None else f"{row['delta']:+.1%}"
        lines.append(f"{row['domain'][:14]:<14} {row['a_graded']:>9} {_pct(row['a_accuracy']):>8} "
                     f"{row['b_graded']:>9} {_pct(row['b_accuracy']):>8} {delta:>8}")
    b_better = sum(1 for r in result.differ if r["gap"] > 0)
    lines += ["", f"{len(result.differ)} questions differ: B better on {b_better}, A better on "
              f"{len(result.differ) - b_better}"]
    for row in result.differ[:limit]:
        lines.append(f"  {row['example_id']:<22} A {_pct(row['a']):>6}  B {_pct(row['b']):>6}  {row['question']}")
    if question:
        lines += ["", *side_by_side(RunStore.open(result.a, home), RunStore.open(result.b, home), question)]
    return "\n".join(lines)


def side_by_side(a: RunStore, b: RunStore, example_id: str, width: int = 60) -> list[str]:
    """One question's records of both runs as two text columns (sample by sample)."""
    ra, rb = question_records(a, example_id), question_records(b, example_id)
    if not ra and not rb:
        return [f"no records of {example_id} in either run"]
    lines = [f"question {example_id}: {preview((ra or rb)[0].get('question'), 2 * width)}",
             f"gold: {(ra or rb)[0].get('gold')}", f"{'A':<{width}} | B"]
    for i in range(max(len(ra), len(rb))):
        left = _record_line(ra[i]) if i < len(ra) else ""
        right = _record_line(rb[i]) if i < len(rb) else ""
        lines.append(f"{left[:width]:<{width}} | {right[:width]}")
    return lines


def _record_line(record: dict[str, Any]) -> str:
    mark = {"correct": "✓", "incorrect": "✗"}.get(verdict(record), "?")
    return f"#{record.get('sample_idx', 0)} {mark} {preview(record.get('response'), 200)}"
