"""Yes/no grader (BoolQ): phrasings, gold forms, hedges."""

import pytest

from experiments.grading import grade

CASES = [
    # (response, gold, correct, status)
    ("Yes", True, True, "ok"),
    ("yes", "yes", True, "ok"),
    ("Yes.", "no", False, "ok"),
    ("No", False, True, "ok"),
    ("no.", "false", True, "ok"),
    ("Yes, the passage says the river flows north.", True, True, "ok"),
    ("No, it is not mentioned as legal.", "no", True, "ok"),
    ("No - the law was repealed.", "no", True, "ok"),
    ("Answer: yes", "yes", True, "ok"),
    ("Answer: Yes", "no", False, "ok"),
    ("Answer: no", "No", True, "ok"),
    ("The answer is No.", False, True, "ok"),
    ("The answer is yes because the text states it.", "yes", True, "ok"),
    ("Final answer: False", "no", True, "ok"),
    ("Final answer: True", "yes", True, "ok"),
    ("**True**", True, True, "ok"),
    ("**False**", True, False, "ok"),
    ("**Yes.**", "yes", True, "ok"),
    ("True", "true", True, "ok"),
    ("false", "TRUE", False, "ok"),
    ("$\\boxed{\\text{No}}$", "no", True, "ok"),
    ("\\boxed{yes}", True, True, "ok"),
    ("The passage describes the harbour in detail.\nAnswer: No", "no", True, "ok"),
    ("The passage says no such thing happened... Answer: yes", "yes", True, "ok"),
    ("Answer: no. Wait, re-reading it, the final answer is yes.", "yes", True, "ok"),
    ("Answer: yes\nOn reflection, the answer is no.", "yes", False, "ok"),
    ("Based on the passage, the statement holds.\nYes.", "yes", True, "ok"),
    ("Based on the passage, the statement does not hold.\nNo", "no", True, "ok"),
    ("Looking at the evidence, the conclusion is: yes", "yes", True, "ok"),
    ("Nobody knows.", "no", False, "no_answer"),  # 'No' inside 'Nobody' is not an answer
    ("Yesterday it rained.", "yes", False, "no_answer"),
    ("It depends on the jurisdiction.", "yes", False, "no_answer"),
    ("Maybe, the passage is ambiguous.", "no", False, "no_answer"),
    ("Perhaps.", "yes", False, "no_answer"),
    ("It cannot be determined from the passage.", "no", False, "no_answer"),
    ("The passage discusses the history of the bridge.", "no", False, "no_answer"),
    ("", "yes", False, "no_answer"),
    ("Yes", 1, True, "ok"),
    ("No", 0, True, "ok"),
    ("No", "no.", True, "ok"),
    ("Yes", "maybe", None, "error"),
    ("Answer: **yes**", "yes", True, "ok"),
    ("After checking every fact in the passage, no.", "no", True, "ok"),
    ("The passage says there is no.", "no", False, "no_answer"),
    ('The answer: "No"', "no", True, "ok"),
]


@pytest.mark.parametrize("response,gold,correct,status", CASES)
def test_yesno(response: str, gold: object, correct: bool | None, status: str) -> None:
    v = grade("yesno", response, gold)
    assert (v.correct, v.status) == (correct, status), v


def test_extracted_is_lowercase_word() -> None:
    assert grade("yesno", "**True**", True).extracted == "true"
    assert "hedge" in grade("yesno", "It depends.", True).reason
