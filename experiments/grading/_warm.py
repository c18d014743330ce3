"""Imported by the forkserver before it forks pool workers (``set_forkserver_preload``).

Importing here, and parsing one answer of each common shape, means every worker forked later
(including replacements after a timeout) starts with sympy loaded and the LaTeX parser's
prediction cache warm: a first parse of a new shape costs 20-80 ms, a warm one 1-5 ms.
"""

import logging

from experiments.grading import code_runner, math_grader  # noqa: F401 - imported to be inherited
from experiments.grading.dispatch import grade

logging.getLogger("math_verify").setLevel(logging.ERROR)
math_grader.USE_SIGNAL_TIMEOUTS = False

_SHAPES = [
    "\\frac{3}{7}",
    "\\sqrt{12}",
    "3\\sqrt{5}",
    "\\frac{\\sqrt{3}}{2}",
    "\\frac{\\pi}{3}",
    "\\pi/4",
    "2\\pi",
    "x^2 + 4x + 4",
    "(x+3)^2",
    "(x + 1)(x - 2)",
    "x = 5",
    "y = 2x + 1",
    "(1, 2]",
    "[-3, 4)",
    "(2, 7)",
    "\\left(1, 2\\right]",
    "(-\\infty, 3)",
    "x \\in (0, 1]",
    "\\{1, 2, 3\\}",
    "(3, 4, 5)",
    "45^\\circ",
    "50\\%",
    "\\text{Monday}",
    "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
    "2 + 3i",
    "10^{6}",
    "e^{2}",
    "\\log_2 8",
    "\\dfrac{1}{2}",
    "-\\frac{5}{4}",
    "\\sqrt{2} \\cdot 3",
    "\\frac{1}{6}\\pi",
]
for _shape in _SHAPES:
    math_grader.math_equal(_shape, "\\frac{7}{9} + \\sqrt{11}")
for _domain, _resp, _gold in (("gsm8k", "#### 5", "5"), ("mc", "Answer: A", "A"), ("yesno", "Yes.", "yes")):
    grade(_domain, _resp, _gold)
math_grader._parse_cached.cache_clear()
