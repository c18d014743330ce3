"""Answer forms bare math-verify misjudges, fixed as classes (``math_boxes``, ``math_forms``): several boxes that
list one answer, decimal comma, inequality against interval, decimals inside tuples / intervals / matrices, inline
math split over lines, short bare answers, LaTeX digit groups, mixed numbers, fonts and primes."""

from __future__ import annotations

import pytest

from experiments.grading import grade
from experiments.grading.math_boxes import joins, last_box_group_at
from experiments.grading.math_forms import blank_broken_inline, compound, decimal_comma, inequality_interval

B = "Putting it together, \\boxed{%s}."

MULTI_BOX = [
    # (response, gold, correct): boxes that together list the answer are one answer
    ("The solutions are \\boxed{4}, \\boxed{-1}.", "\\{-1, 4\\}", True),
    ("So $x = \\boxed{4}$ or $x = \\boxed{-1}$", "-1, 4", True),
    ("$$\\boxed{(0, 1)} \\quad \\text{and} \\quad \\boxed{(5, 3)}$$", "(5, 3), (0, 1)", True),
    ("\\( a_1 = \\boxed{\\frac{1}{2}} \\) and \\( a_2 = \\boxed{3} \\)", "a_1 = \\frac12, a_2 = 3", True),
    ("$\\boxed{7}\\boxed{8}$", "7, 8", True),
    ("The solutions are \\boxed{4}, \\boxed{-1}.", "4", False),  # half of the set is not the set
    # gold written as several boxes
    ("\\boxed{\\{2, 9\\}}", "Hence \\boxed{9} and \\boxed{2}.", True),
    # a run ends where prose or a correction starts: the last stated answer wins
    ("At first \\boxed{6}. Then I realised the error, so \\boxed{8}", "8", True),
    ("\\boxed{6} wait, no: \\boxed{8}", "8", True),
    ("\\boxed{6}, actually \\boxed{8}", "8", True),
    ("Part 1 gives \\boxed{6}.\n\nPart 2 gives \\boxed{8}", "8", True),
    ("\\boxed{8}, that is \\boxed{8}", "8", True),  # a repeated box counts once
]


@pytest.mark.parametrize("response,gold,correct", MULTI_BOX)
def test_boxes_listing_one_answer(response: str, gold: str, correct: bool) -> None:
    v = grade("math", response, gold)
    assert (v.correct, v.status) == (correct, "ok"), v


def test_box_groups() -> None:
    text = "\\boxed{1},\\boxed{2} and \\boxed{3}"
    assert last_box_group_at(text) == (text.rindex("\\boxed"), "1, 2, 3")  # the position of the last box
    assert last_box_group_at("\\boxed{1} but then \\boxed{2}")[1] == "2"
    assert last_box_group_at("no box") is None
    assert joins(" \\quad \\text{and} \\quad ") and joins("") and joins(" \\) and \\( y_2 = ")
    assert not joins(". So ") and not joins(" no no no ") and not joins(", " + "x" * 80)


DECIMAL_COMMA = [
    (B % "2,75", "2.75", True),
    (B % "2.75", "2,75", True),  # the comma may be on the gold's side
    (B % "0,125", "0.125", True),  # a leading 0 cannot start a thousands group
    (B % "2,750", "2.75", False),  # three digits after the comma: a thousands separator
    (B % "2.75", "2, 75", False),  # a spaced comma separates a list
    (B % "2,75", "\\{2, 75\\}", True),  # without a decimal point on the other side the comma lists
    ("it is 2.75", "2,75", True),  # no box: on math-verify's extraction
]


@pytest.mark.parametrize("response,gold,correct", DECIMAL_COMMA)
def test_decimal_comma_only_where_the_other_side_says_so(response: str, gold: str, correct: bool) -> None:
    assert grade("math", response, gold).correct is correct


def test_decimal_comma_rule() -> None:
    assert decimal_comma("3.5", "3,5") == ("3.5", "3.5")
    assert decimal_comma("3,500", "3.5") is None
    assert decimal_comma("3,5", "35") is None


INEQUALITY = [
    (B % "-1 \\le t \\le 4", "t \\in [-1, 4]", True),
    (B % "t \\in [-1, 4]", "-1 \\le t \\le 4", True),  # either side may be the inequality
    (B % "-1 < t \\leq 4", "(-1, 4]", True),
    (B % "-1 < t < 4", "[-1, 4]", False),
    (B % "y > 2", "(2, \\infty)", True),
    (B % "y \\ge 2", "(2, \\infty)", False),
    (B % "5 > y", "y \\in (-\\infty, 5)", True),
    ("Hence $-1 \\le t \\le 4$", "t \\in [-1, 4]", True),  # no box: on math-verify's extraction
]


@pytest.mark.parametrize("response,gold,correct", INEQUALITY)
def test_inequality_against_interval(response: str, gold: str, correct: bool) -> None:
    assert grade("math", response, gold).correct is correct


def test_inequality_interval_rule() -> None:
    assert inequality_interval("-3 \\leq x < 1") == "[-3, 1)"
    assert inequality_interval("1 > x \\geq -3") == "[-3, 1)"
    assert inequality_interval("x < 1") == "(-\\infty, 1)"
    assert inequality_interval("x < y < z < w") is None
    assert inequality_interval("x + y < 1") is None


APPROX = [
    (B % "(0.25, 1.6667]", "(\\frac14, \\frac53]", True),
    (B % "(0.29, 1.5)", "(\\frac27, \\frac32)", True),
    (B % "(0.3, 1.5)", "(\\frac27, \\frac32)", False),  # one place must be exact
    (B % "(0.28, 1.5)", "(\\frac27, \\frac32)", False),  # not the rounding of 2/7
    (B % "[0.29, 1.5)", "(\\frac27, \\frac32)", False),  # brackets still matter
    (B % "(1.73, 2)", "(\\sqrt{3}, 2)", True),
    (B % "\\begin{bmatrix} 0.67 & 1 \\\\ 2 & 0.2 \\end{bmatrix}",
     "\\begin{pmatrix} 2/3 & 1 \\\\ 2 & 1/5 \\end{pmatrix}", True),
    (B % "\\begin{pmatrix} 0.67 \\\\ 2 \\end{pmatrix}",
     "\\left(\\begin{pmatrix} \\frac23 \\\\ 2 \\end{pmatrix}\\right)", True),
    (B % "\\begin{pmatrix} 0.66 \\\\ 2 \\end{pmatrix}",
     "\\left(\\begin{pmatrix} \\frac23 \\\\ 2 \\end{pmatrix}\\right)", False),
    ("so the set is $(0.25, 1.6667]$", "(\\frac14, \\frac53]", True),  # no box: on math-verify's extraction
    (B % "0.29", "\\frac27", False),  # a scalar keeps math-verify's own precision
]


@pytest.mark.parametrize("response,gold,correct", APPROX)
def test_decimals_inside_tuples_intervals_matrices(response: str, gold: str, correct: bool) -> None:
    assert grade("math", response, gold).correct is correct


def test_compound_shapes() -> None:
    assert compound("\\left( 1, 2 \\right]").kind == "(]"
    assert compound("(1, 2), (3, 4)") is None
    assert compound("(\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix})").cells == (("1",), ("2",))


def test_inline_math_split_over_lines_states_nothing() -> None:
    for response in ("The result: $ \n 12 \n $", "The result: \\( \n 12 \n \\)"):
        v = grade("math", response, "12")
        assert (v.correct, v.status) == (False, "no_answer"), (response, v)
    assert grade("math", "The result: \\[ \n 12 \n \\]", "12").correct is True  # display math may span lines
    assert grade("math", "It costs $3 in all,\nand $12 with tax.", "12").correct is True  # currency stays
    assert blank_broken_inline("a $x$ b $ \n 1 \n $ c") == "a $x$ b   c"


BARE_AND_SPELLINGS = [
    # (response, gold): a short bare answer is read whole; number spellings and fonts
    ("y^2 - 3*y + 2", "(y-1)(y-2)"),
    ("\\$25", "25"),
    ("7\\frac{1}{4}", "7.25"),
    ("7 1/4", "7.25"),
    ("3,\\!141,\\!592", "3141592"),
    ("12,\\!34,\\!567", "1234567"),
    ("\\mathcal{C}", "C"),
    ("even", "\\text{even}"),
    ("42\\", "42"),  # a dangling backslash
]


@pytest.mark.parametrize("response,gold", BARE_AND_SPELLINGS)
def test_bare_answers_and_spellings(response: str, gold: str) -> None:
    assert grade("math", response, gold).correct is True
    assert grade("math", gold, response).correct is True


def test_a_prime_names_another_thing() -> None:
    assert grade("math", B % "g'", "g").correct is False
    assert grade("math", B % "g", "g'").correct is False
    assert grade("math", B % "g'(t) = 3t", "3t").correct is True
