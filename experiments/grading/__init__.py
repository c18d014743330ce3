"""Rule-based graders by domain, a hang-proof grading pool, and the ``grade-file`` command.

>>> from experiments.grading import grade
>>> grade("gsm8k", "so she pays $1,200 in total.", "#### 1200").correct
True
"""

from experiments.grading.dispatch import DOMAINS, grade
from experiments.grading.pool import GradeItem, GradingPool
from experiments.grading.verdict import Verdict

__all__ = ["DOMAINS", "GradeItem", "GradingPool", "Verdict", "grade"]
