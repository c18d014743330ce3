"""Plain final answers that math-verify itself reads are graded (not `no_answer`); the last stated answer wins
when a response corrects itself; quoted and lower-case option letters count."""

from __future__ import annotations

import pytest

from experiments.grading import grade

MATH_PLAIN = [
    # (response, gold, correct, extracted)
    ("42", "42", True, "42"),
    ("41", "42", False, "41"),
    ("3,500", "3500", True, "3500"),
    ("\\dfrac{3}{4}", "\\frac34", True, "\\frac{3}{4}"),
    ("so it is $x = 2$", "2", True, "x = 2"),
    ("$$\\frac{1}{3}.$$", "\\frac{1}{3}", True, "\\frac{1}{3}"),  # sentence punctuation inside display math
    ("Final Answer: The largest $n$ is 34.", "34", True, "34"),  # prose around a phrase answer
    ("Final Answer: The final answer is 7.78.", "7.78", True, "7.78"),
]


@pytest.mark.parametrize("response,gold,correct,extracted", MATH_PLAIN)
def test_math_plain_final_answers(response: str, gold: str, correct: bool, extracted: str) -> None:
    v = grade("math", response, gold)
    assert (v.correct, v.status, v.extracted) == (correct, "ok", extracted), v


def test_math_nothing_readable_is_no_answer() -> None:
    for response in ("I do not know how to solve this.", "hello", ""):
        v = grade("math", response, "5")
        assert (v.correct, v.status) == (False, "no_answer"), (response, v)


SELF_CORRECTED = [
    # (domain, response, gold, options)
    ("math", "So \\boxed{12}. Wait, I made an error: the final answer is 15.", "15", None),
    ("gsm8k", "So the total is \\boxed{12}.\nActually I double counted; the answer is 15.", "15", None),
    ("gsm8k", "#### 12\nOops, correction: the answer is 15", "15", None),
    ("mc", "Answer: A\nWait, that is wrong. The answer is 'b'.", "B", {"A": "x", "B": "y", "C": "z"}),
]


@pytest.mark.parametrize("domain,response,gold,options", SELF_CORRECTED)
def test_last_stated_answer_wins(domain: str, response: str, gold: str, options: object) -> None:
    v = grade(domain, response, gold, options=options)
    assert (v.correct, v.status) == (True, "ok"), v


def test_a_stated_answer_is_kept_when_prose_follows() -> None:
    v = grade("math", "Thus \\boxed{12}. The answer is correct, I checked it.", "12")
    assert v.correct is True and v.extracted == "12"
    v = grade("math", "So \\boxed{12}. The answer is consistent with step 3.", "12")
    assert v.correct is True and v.extracted == "12"
    v = grade("gsm8k", "#### 42\nI hope the answer is correct in 2 steps.", "42")
    assert v.correct is True and v.extracted == "42"


OPTS = {"A": "Metformin", "B": "Insulin", "C": "Lisinopril", "D": "Aspirin"}
MC = [
    ("Answer: 'C'", "C", True),
    ('The answer is "b".', "B", True),
    ("the answer is c", "C", True),
    ("final answer: (d)", "D", True),
    ("\u201cC\u201d", "C", True),
    ("The answer is a bit tricky to pin down.", "A", False),  # the article, not option a
]


@pytest.mark.parametrize("response,gold,correct", MC)
def test_quoted_and_lower_case_letters(response: str, gold: str, correct: bool) -> None:
    v = grade("mc", response, gold, options=OPTS)
    assert v.correct is correct, v
    if not correct:
        assert v.status == "no_answer"
