"""Multiple-choice grader: letter phrasings, last final statement wins, multiple choices are wrong."""

import pytest

from experiments.grading import grade

OPTS = {"A": "Metformin", "B": "Insulin glargine", "C": "Lisinopril", "D": "Aspirin", "E": "Warfarin"}
OPTS_LIST = ["Paris", "London", "Berlin", "Madrid"]

ANALYSIS = (
    "Option A is incorrect because metformin is contraindicated.\n"
    "Option B could work but is not first line.\n"
    "Option D is irrelevant.\n"
)

CASES = [
    # (response, gold, options, correct, status)
    ("(C)", "C", OPTS, True, "ok"),
    ("C", "C", OPTS, True, "ok"),
    ("c", "C", OPTS, True, "ok"),
    ("C.", "C", OPTS, True, "ok"),
    ("C) Lisinopril", "C", OPTS, True, "ok"),
    ("C. Lisinopril is the drug of choice.", "C", OPTS, True, "ok"),
    ("Answer: C", "C", OPTS, True, "ok"),
    ("Answer: C", "B", OPTS, False, "ok"),
    ("answer: (C)", "C", OPTS, True, "ok"),
    ("The answer is C.", "C", OPTS, True, "ok"),
    ("The correct answer is (B) Insulin glargine.", "B", OPTS, True, "ok"),
    ("The correct option is D", "D", OPTS, True, "ok"),
    ("**C**", "C", OPTS, True, "ok"),
    ("The best choice here is **C. Lisinopril**", "C", OPTS, True, "ok"),
    ("Thus $\\boxed{C}$", "C", OPTS, True, "ok"),
    ("Thus $\\boxed{\\text{C}}$", "C", OPTS, True, "ok"),
    ("I would choose option C.", "C", OPTS, True, "ok"),
    ("I'll go with option E", "E", OPTS, True, "ok"),
    (ANALYSIS + "Therefore option C is the best.", "C", OPTS, True, "ok"),
    (ANALYSIS + "Answer: C", "C", OPTS, True, "ok"),
    (ANALYSIS + "Answer: C", "A", OPTS, False, "ok"),
    ("Answer: A\nWait, let me reconsider. Final answer: C", "C", OPTS, True, "ok"),
    ("Answer: C\nOn reflection the final answer is A", "C", OPTS, False, "ok"),
    ("**Answer: C**", "C", OPTS, True, "ok"),
    ("Final answer - B", "B", OPTS, True, "ok"),
    ("Answer: A and C", "A", OPTS, False, "ok"),
    ("The answer is either B or C.", "B", OPTS, False, "ok"),
    ("Answer: (A), (C)", "C", OPTS, False, "ok"),
    ("Answer: C, because it lowers blood pressure.", "C", OPTS, True, "ok"),
    ("Answer: C. A common mistake is picking A.", "C", OPTS, True, "ok"),
    ("The answer is Lisinopril.", "C", OPTS, True, "ok"),
    ("Lisinopril", "C", OPTS, True, "ok"),
    ("After weighing everything:\nWarfarin", "E", OPTS, True, "ok"),
    ("Answer: C", "Lisinopril", OPTS, True, "ok"),
    ("Answer: B", "Lisinopril", OPTS, False, "ok"),
    ("Answer: C", "Berlin", OPTS_LIST, True, "ok"),
    ("The answer is Paris", "A", OPTS_LIST, True, "ok"),
    ("(b)", "B", OPTS_LIST, True, "ok"),
    ("I am not sure; several of these drugs could be used.", "C", OPTS, False, "no_answer"),
    ("", "C", OPTS, False, "no_answer"),
    ("Both metformin and lisinopril are reasonable.", "C", OPTS, False, "no_answer"),
    ("Answer: F", "C", OPTS, False, "no_answer"),  # not one of the options
    ("Answer: E", "E", None, True, "ok"),  # no options given: A-E
    ("Answer: C", "Z", OPTS, None, "error"),  # gold is neither a letter of the options nor a text
]


@pytest.mark.parametrize("response,gold,options,correct,status", CASES)
def test_mc(response: str, gold: str, options: object, correct: bool | None, status: str) -> None:
    v = grade("mc", response, gold, options=options)
    assert (v.correct, v.status) == (correct, status), v


def test_multiple_choices_reason() -> None:
    v = grade("mc", "Answer: A and C", "A", options=OPTS)
    assert v.correct is False and v.status == "ok" and "multiple" in v.reason and v.extracted == "A, C"


def test_extracted_letter() -> None:
    assert grade("mc", "The answer is (D).", "D", options=OPTS).extracted == "D"
