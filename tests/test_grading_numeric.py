"""GSM8K / numeric grader: extraction priority, number formats, tolerance."""

import pytest

from experiments.grading import grade
from experiments.grading.numeric import extract_number, gold_number

GSM_GOLD = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nShe sold 48+24 = <<48+24=72>>72 clips.\n#### 72"

CASES = [
    # (response, gold, correct, status)
    ("She sold 72 clips altogether.", GSM_GOLD, True, "ok"),
    ("48 + 24 = 72\n#### 72", GSM_GOLD, True, "ok"),
    ("#### 72", "72", True, "ok"),
    ("The answer is 72.", "72", True, "ok"),
    ("The answer is 71.", "72", False, "ok"),
    ("So the total is \\boxed{72}.", "72", True, "ok"),
    ("$\\boxed{72}$ clips, which is 3 more than 69", "72", True, "ok"),
    ("#### 72\nThen some trailing note about 5 apples", "72", True, "ok"),
    ("The answer is 72. Check: 72 - 24 = 48", "72", True, "ok"),
    ("1,000 + 234 = 1,234", "1234", True, "ok"),
    ("It costs $1,234,567 in total.", "1234567", True, "ok"),
    ("It costs $5.", "5", True, "ok"),
    ("He pays $5.00 per hour.", "5", True, "ok"),
    ("5 dollars", "5", True, "ok"),
    ("The distance is 12 km.", "12", True, "ok"),
    ("The distance is 12km.", "12", True, "ok"),  # a glued unit is still read as 12
    ("The temperature dropped to -3 degrees.", "-3", True, "ok"),
    ("The temperature dropped to -3 degrees.", "3", False, "ok"),
    ("\u22124 is the result", "-4", True, "ok"),
    ("Profit: 12.5", "12.5", True, "ok"),
    ("Profit: 12.50", "12.5", True, "ok"),
    ("5.0", "5", True, "ok"),
    ("The answer is 0.75", "3/4", True, "ok"),
    ("The answer is 3/4", "0.75", True, "ok"),
    ("The answer is \\frac{3}{4}", "0.75", True, "ok"),
    ("\\boxed{\\dfrac{1}{4}}", "0.25", True, "ok"),
    ("The answer is 0.333", "1/3", False, "ok"),
    ("50% of them", "50", True, "ok"),
    ("50% of them", "0.5", True, "ok"),
    ("The answer is 25%", "50", False, "ok"),
    ("The answer is: 18", "18", True, "ok"),
    ("Final answer: 18 eggs", "18", True, "ok"),
    ("**Answer:** 18", "18", True, "ok"),
    ("After 3 weeks she has 21 dollars", "21", True, "ok"),
    ("After 3 weeks she has 21 dollars", "3", False, "ok"),
    ("I cannot determine this.", "7", False, "no_answer"),
    ("", "7", False, "no_answer"),
    ("The answer is 1000000", "1e6", True, "ok"),
    ("The answer is 2.5e3", "2500", True, "ok"),
    ("The answer is 100", "100.0000001", True, "ok"),
    ("The answer is 100.01", "100", False, "ok"),
    ("x = 7", "7", True, "ok"),
    ("Total = 7 + 8 = 15", "#### 15", True, "ok"),
    ("It took 2.5 hours", "2.5", True, "ok"),
    ("We need .5 cups", "0.5", True, "ok"),
    ("The answer is 1,5", "15", False, "ok"),  # not a thousands group: last number is 5
    ("There are 3 boxes with 4 each so 12 total", 12, True, "ok"),
    ("3 boxes", 3.0, True, "ok"),
    ("there are 10 cats", "ten", None, "error"),  # gold without a number is a grader error
]


@pytest.mark.parametrize("response,gold,correct,status", CASES)
def test_numeric(response: str, gold: object, correct: bool | None, status: str) -> None:
    v = grade("gsm8k", response, gold)
    assert (v.correct, v.status) == (correct, status), v


def test_numeric_alias_and_extracted() -> None:
    v = grade("numeric", "so she pays $1,200.", "1200")
    assert v.correct is True and v.extracted == "$1,200"


def test_extract_priority() -> None:
    assert extract_number("the answer is 5 \\boxed{6} #### 7")[1] == 7
    assert extract_number("the answer is 5 and \\boxed{6}")[1] == 6
    assert extract_number("The answer is 5, since 2+3")[1] == 5


def test_gold_number_forms() -> None:
    assert gold_number("#### 1,024") == 1024
    assert gold_number(True) is None
    assert gold_number(2.5) == 2.5
