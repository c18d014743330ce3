"""Math grader: box extraction and math-verify equivalence (gold first).

Where the expected behaviour is a judgement call, the table asserts what math-verify 0.9 does,
e.g. percent: ``50\\%`` equals both 50 and 0.5 (math-verify accepts a percent either way);
intervals: open and closed differ; ``x=2`` equals ``2`` in either direction; degrees are dropped.
"""

import threading

import pytest

from experiments.grading import grade
from experiments.grading.math_grader import extract_math_answer, gold_answer, last_boxed

B = "The final result follows. \\boxed{%s}"

CASES = [
    # (response, gold, correct, status)
    (B % "\\frac{1}{2}", "0.5", True, "ok"),
    (B % "\\frac12", "\\frac{1}{2}", True, "ok"),
    (B % "0.5", "\\frac{1}{2}", True, "ok"),
    (B % "\\dfrac{3}{4}", "\\frac34", True, "ok"),
    (B % "1/3", "\\frac{1}{3}", True, "ok"),
    (B % "0.33", "\\frac{1}{3}", False, "ok"),
    (B % "\\sqrt{8}", "2\\sqrt{2}", True, "ok"),
    (B % "\\sqrt{8}", "3\\sqrt{2}", False, "ok"),
    (B % "\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", True, "ok"),
    (B % "\\{2,1\\}", "\\{1,2\\}", True, "ok"),
    (B % "\\{1,3\\}", "\\{1,2\\}", False, "ok"),
    (B % "[1,2]", "(1,2)", False, "ok"),
    (B % "(1,2)", "(1,2)", True, "ok"),
    (B % "(0,1]", "x \\in (0,1]", True, "ok"),
    (B % "(-\\infty, 3)", "(-\\infty,3)", True, "ok"),
    (B % "(4,3)", "(3,4)", False, "ok"),
    (B % "x=2", "2", True, "ok"),
    (B % "2", "x=2", True, "ok"),
    (B % "y = 2x + 1", "y=2x+1", True, "ok"),
    (B % "90^\\circ", "90", True, "ok"),
    (B % "90", "90^\\circ", True, "ok"),
    (B % "50\\%", "50", True, "ok"),
    (B % "50\\%", "0.5", True, "ok"),
    (B % "10 \\text{ cm}", "10", True, "ok"),
    (B % "\\$5", "5", True, "ok"),
    (B % "1{,}000", "1000", True, "ok"),
    (B % "\\text{Monday}", "\\text{Monday}", True, "ok"),
    (B % "\\text{(B)}", "B", True, "ok"),
    (B % "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True, "ok"),
    (B % "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", False, "ok"),
    (B % "\\pi", "\\pi", True, "ok"),
    (B % "3.14159", "\\pi", False, "ok"),
    (B % "\\infty", "\\infty", True, "ok"),
    (B % "-7", "-7", True, "ok"),
    (B % "7", "-7", False, "ok"),
    (B % "2+3i", "3i+2", True, "ok"),
    (B % "x^2+2x+1", "(x+1)^2", True, "ok"),
    (B % "\\left( 3, \\frac{\\pi}{2} \\right)", "\\left( 3, \\frac{\\pi}{2} \\right)", True, "ok"),
    ("First \\boxed{3} then corrected: \\boxed{4}", "4", True, "ok"),
    ("First \\boxed{4} then corrected: \\boxed{3}", "4", False, "ok"),
    ("nested \\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{1}{\\sqrt{2}}", True, "ok"),
    ("no braces \\boxed 5.", "5", True, "ok"),
    ("old style \\fbox{12}", "12", True, "ok"),
    ("The final answer is $\\frac{2}{3}$.", "\\frac{2}{3}", True, "ok"),
    ("Therefore, the final answer is: 42", "42", True, "ok"),
    ("Answer: 17", "17", True, "ok"),
    ("I am not sure how to solve this.", "5", False, "no_answer"),
    # no box and no phrase: graded on what math-verify itself reads, as bare math-verify would
    ("I think it's around 5 but I'm not sure.", "5", True, "ok"),
    ("", "5", False, "no_answer"),
    # gold is a full solution: its last box is the gold answer
    (B % "6", "We add 2 and 4 to get $\\boxed{6}$.", True, "ok"),
    (B % "\\frac{1}{2}", "Half of it: $\\boxed{\\dfrac{1}{2}}$", True, "ok"),
    (B % "7", "So we get \\boxed{6}", False, "ok"),
    (B % "12", "$12$", True, "ok"),
]


@pytest.mark.parametrize("response,gold,correct,status", CASES)
def test_math_equivalence(response: str, gold: str, correct: bool, status: str) -> None:
    v = grade("math", response, gold)
    assert (v.correct, v.status) == (correct, status), v


def test_last_boxed_nested_and_unbalanced() -> None:
    assert last_boxed("\\boxed{\\frac{1}{\\sqrt{2}}} and \\boxed{a_{1}}") == "a_{1}"
    assert last_boxed("\\boxed{broken") is None
    assert last_boxed("\\boxed{ok} \\boxed{broken") == "ok"
    assert last_boxed("no box") is None


def test_extraction_reports_what_was_graded() -> None:
    assert extract_math_answer("blah \\boxed{x = 3}") == "x = 3"
    assert extract_math_answer("The final answer is \\(\\frac{1}{4}\\).") == "\\frac{1}{4}"
    assert gold_answer("  $\\frac{1}{2}$ ") == "\\frac{1}{2}"
    assert grade("math", B % "\\frac12", "0.5").extracted == "\\frac12"


def test_works_off_the_main_thread() -> None:
    """math-verify's SIGALRM timeouts must be off outside the main thread (no ValueError)."""
    out = []
    t = threading.Thread(target=lambda: out.append(grade("math", B % "\\frac{2}{4}", "0.5")))
    t.start()
    t.join(30)
    assert out and out[0].correct is True and out[0].status == "ok"


def test_unknown_domain_raises() -> None:
    with pytest.raises(ValueError):
        grade("chemistry", "x", "y")


FAST_FORMS = [
    "2",
    "-2",
    "2.0",
    "2.5",
    "0.5",
    "\\frac{1}{2}",
    "1/2",
    "\\frac{5}{2}",
    "5/2",
    "7",
    "0.333",
    "1/3",
    "(1, 2]",
    "[1, 2]",
    "(1, 2)",
    "[1, 2)",
    "(2, 1)",
    "(1, 3]",
    "(1.0, 2]",
    "(1, 2, 3)",
    "(3, 2, 1)",
    "\\{1, 2\\}",
    "\\{2, 1\\}",
    "\\{1, 2, 3\\}",
    "\\{0.5, 1\\}",
    "\\{\\frac{1}{2}, 1\\}",
    "(-1, 4)",
    "[-1, 4]",
]


def test_fast_paths_agree_with_math_verify() -> None:
    """Every verdict the parser-free fast path gives must be math-verify's own verdict."""
    from math_verify import parse, verify

    from experiments.grading.math_grader import fast_equal

    decided = 0
    for g in FAST_FORMS:
        for p in FAST_FORMS:
            fast = fast_equal(g, p)
            if fast is None:
                continue
            decided += 1
            slow = verify(parse(f"\\boxed{{{g}}}"), parse(f"\\boxed{{{p}}}"))
            assert fast == slow, (g, p, fast, slow)
    assert decided > 120
