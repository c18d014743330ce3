"""Verdict policies: which of the rule grader's, the judge's and a human's verdicts a reader uses.

`rule`, `judge` and `human` take that verdict alone; `best` takes the human's where the record was reviewed,
else the judge's, else the rule's; `auto` is the recorded verdict (the rule's, else the judge's: the readers'
behaviour before reviews existed, and still their default). One order table serves both the per-record function
(tagging, SFT data) and the numpy one (pass rates, the Records screen over a million rows), so they cannot
disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

POLICIES = ("auto", "rule", "judge", "human", "best")
ORDER: dict[str, tuple[str, ...]] = {
    "auto": ("rule", "judge"),
    "rule": ("rule",),
    "judge": ("judge",),
    "human": ("human",),
    "best": ("human", "judge", "rule"),
}
SOURCES = ("rule", "judge", "human")  # source codes 0, 1, 2 in the numpy form; -1: no verdict


def check_policy(policy: str) -> str:
    if policy not in ORDER:
        raise ValueError(f"unknown verdict policy {policy!r}; one of {', '.join(POLICIES)}")
    return policy


def rule_verdict(record: Mapping[str, Any]) -> bool | None:
    """The rule grader's verdict. A tagged record's `correct` is whatever verdict its token encodes
    (`verdict_source`); the rule's own stays in `rule_correct` there."""
    if "rule_correct" in record or record.get("verdict_source") not in (None, "rule"):
        value = record.get("rule_correct")
    else:
        value = record.get("correct")
    return None if value is None else bool(value)


def judge_verdict(record: Mapping[str, Any]) -> bool | None:
    value = record.get("judge_correct")
    return None if value is None else bool(value)


def human_verdict(record: Mapping[str, Any], reviews: Mapping[tuple[str, int], Any] | None = None) -> bool | None:
    """The review of this record (`reviews`: key -> Review), else a verdict an earlier stage copied into it
    (`human_correct`, written by tagging)."""
    if reviews:
        review = reviews.get((str(record.get("example_id", "")), int(record.get("sample_idx", 0) or 0)))
        if review is not None and review.decided:
            return review.correct
    value = record.get("human_correct")
    return None if value is None else bool(value)


def pick(record: Mapping[str, Any], policy: str,
         reviews: Mapping[tuple[str, int], Any] | None = None) -> tuple[bool | None, str | None]:
    """(verdict, the source it came from) under `policy`; (None, None) when none of its sources has one."""
    readers = {"rule": lambda: rule_verdict(record), "judge": lambda: judge_verdict(record),
               "human": lambda: human_verdict(record, reviews)}
    for source in ORDER[check_policy(policy)]:
        value = readers[source]()
        if value is not None:
            return value, source
    return None, None


def combine(policy: str, rule: np.ndarray, judge: np.ndarray, human: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numpy form of `pick`: int8 arrays with 1 right, 0 wrong, -1 none (`human` may also hold 2: skipped,
    which is no verdict). Returns (verdict int8, source int8: an index into SOURCES, -1 none)."""
    arrays = {"rule": rule, "judge": judge, "human": np.where(human > 1, -1, human).astype(np.int8)}
    verdict = np.full(len(rule), -1, dtype=np.int8)
    source = np.full(len(rule), -1, dtype=np.int8)
    for name in reversed(ORDER[check_policy(policy)]):  # the first source in the order is written last: it wins
        have = arrays[name] >= 0
        verdict[have] = arrays[name][have]
        source[have] = SOURCES.index(name)
    return verdict, source


def from_bool(values: Any) -> np.ndarray:
    """A nullable boolean arrow array (or chunked array) -> int8 (1, 0, -1 for null)."""
    import pyarrow.compute as pc

    filled = pc.fill_null(values, False).to_numpy(zero_copy_only=False).astype(np.int8)
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    return np.where(valid, filled, -1).astype(np.int8)


HUMAN_CODES = {"correct": 1, "wrong": 0, "skip": 2}


def human_array(example_ids: Any, sample_idx: Any, reviews: Mapping[tuple[str, int], Any] | None) -> np.ndarray:
    """Reviews looked up for arrow columns of keys: int8, 1 / 0 for a correct / wrong mark, 2 skipped, -1 none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(example_ids)
    decided = {k: r for k, r in (reviews or {}).items() if r.decided}
    if not decided or not n:
        return np.full(n, -1, dtype=np.int8)
    keys = pc.binary_join_element_wise(pc.cast(example_ids, pa.string()), pc.cast(sample_idx, pa.string()), "#")
    names = pa.array([f"{k[0]}#{k[1]}" for k in decided], pa.string())
    codes = np.array([HUMAN_CODES.get(r.verdict, -1) for r in decided.values()] + [-1], dtype=np.int8)
    found = pc.index_in(keys, value_set=names).fill_null(-1).to_numpy(zero_copy_only=False)
    return codes[found]


def table_verdicts(table: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rule, judge, copied human) int8 arrays from a table's `correct`, `rule_correct`, `verdict_source`,
    `judge_correct`, `human_correct` columns (absent ones read as null): `rule_verdict` etc., vectorised."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows

    def column(name: str, kind: Any) -> Any:
        return table.column(name) if name in table.column_names else pa.nulls(n, kind)

    source = column("verdict_source", pa.string())
    if pa.types.is_dictionary(source.type) and n:  # the records index: compare the few dictionary values only
        array = source.combine_chunks()
        is_rule = np.array([v == "rule" for v in array.dictionary.to_pylist()] + [True], dtype=bool)
        named_rule = is_rule[array.indices.fill_null(-1).to_numpy(zero_copy_only=False)]
    else:
        named_rule = pc.fill_null(pc.equal(source, "rule"), True).to_numpy(zero_copy_only=False)
    correct, rule_correct = from_bool(column("correct", pa.bool_())), from_bool(column("rule_correct", pa.bool_()))
    rule = np.where(named_rule, correct, rule_correct).astype(np.int8)
    return rule, from_bool(column("judge_correct", pa.bool_())), from_bool(column("human_correct", pa.bool_()))
