"""GradingPool: ordering, per-item hard timeout, worker crashes, replacement."""

import os
import time

import pytest

from experiments.grading import GradeItem, GradingPool, Verdict

TOWER = GradeItem("math", "\\boxed{9^{9^{9^{9^{9}}}}}", "3")


class _ExitOnUnpickle:
    """Context value whose unpickling kills the worker process: a stand-in for a native crash."""

    def __reduce__(self):
        return (os._exit, (3,))


class _SleepOnUnpickle:
    """Unpickled before the worker arms its soft alarm, so only the parent's SIGKILL can end it."""

    def __reduce__(self):
        return (time.sleep, (60,))


def easy(i: int) -> GradeItem:
    return GradeItem("gsm8k", f"The answer is {i}.", f"#### {i}")


@pytest.fixture(scope="module")
def pool():
    with GradingPool(workers=2, timeout=2.0) as p:
        yield p


def test_grade_all_is_ordered_and_mixed(pool: GradingPool) -> None:
    items = [
        GradeItem("math", "\\boxed{\\frac{1}{2}}", "0.5"),
        GradeItem("gsm8k", "#### 12", "12"),
        GradeItem("mc", "Answer: B", "B", {"options": ["x", "y", "z"]}),
        GradeItem("yesno", "No.", "yes"),
        GradeItem("code", "```python\ndef f():\n    return 1\n```", "", {"tests": "assert f() == 1"}),
        GradeItem("math", "no answer here", "1"),
    ]
    out = pool.grade_all(items)
    assert [v.correct for v in out] == [True, True, True, False, True, False]
    assert [v.status for v in out] == ["ok"] * 5 + ["no_answer"]
    assert all(isinstance(v, Verdict) for v in out)


def test_grade_many_yields_every_index_once(pool: GradingPool) -> None:
    items = [easy(i) for i in range(200)]
    seen = {}
    for i, v in pool.grade_many(iter(items)):  # a plain iterator is fine: consumed lazily
        assert i not in seen
        seen[i] = v
    assert sorted(seen) == list(range(200))
    assert all(v.correct for v in seen.values())


def test_pathological_item_times_out_while_others_are_graded(pool: GradingPool) -> None:
    items = [easy(i) for i in range(10)] + [TOWER] + [easy(i) for i in range(10, 60)]
    t0 = time.monotonic()
    got = {}
    when = {}
    for i, v in pool.grade_many(items):
        got[i] = v
        when[i] = time.monotonic() - t0
    assert got[10].status == "timeout" and got[10].correct is None
    assert got[10].reason == "grader exceeded 2s"
    assert when[10] < 2.0 + 2.0
    others = [v for i, v in got.items() if i != 10]
    assert len(others) == 60 and all(v.status == "ok" and v.correct for v in others)
    # the easy items are not held up behind the tower: most finish long before it
    assert sum(1 for i, t in when.items() if i != 10 and t < 1.5) >= 45


def test_worker_crash_is_an_error_and_the_pool_goes_on(pool: GradingPool) -> None:
    before = pool.restarts
    items = [easy(1), GradeItem("gsm8k", "1", "1", {"boom": _ExitOnUnpickle()}), easy(2), easy(3)]
    out = pool.grade_all(items)
    assert out[1].status == "error" and out[1].correct is None and "died" in out[1].reason
    assert [v.correct for i, v in enumerate(out) if i != 1] == [True, True, True]
    assert pool.restarts == before + 1
    assert pool.grade_all([easy(7)])[0].correct is True


def test_stuck_worker_is_killed_by_the_parent(pool: GradingPool) -> None:
    before = pool.restarts
    t0 = time.monotonic()
    items = [GradeItem("gsm8k", "1", "1", {"nap": _SleepOnUnpickle()}), easy(4), easy(5)]
    out = pool.grade_all(items)
    assert time.monotonic() - t0 < 2.0 + 8.0  # the sleep is 60 s: only the kill at 2 s ends it this soon
    assert out[0].status == "timeout"
    assert [v.correct for v in out[1:]] == [True, True]
    assert pool.restarts >= before + 1


def test_empty_input_and_bad_arguments(pool: GradingPool) -> None:
    assert pool.grade_all([]) == []
    with pytest.raises(ValueError):
        GradingPool(workers=0)


def test_unpicklable_context_is_an_error_for_that_item_only(pool: GradingPool) -> None:
    out = pool.grade_all([easy(1), GradeItem("gsm8k", "1", "1", {"f": lambda: 1}), easy(2)])
    assert [v.status for v in out] == ["ok", "error", "ok"]
    assert "cannot be sent" in out[1].reason


def test_unknown_domain_in_pool_is_an_error(pool: GradingPool) -> None:
    v = pool.grade_all([GradeItem("astrology", "x", "y")])[0]
    assert v.status == "error" and "unknown grading domain" in v.reason
