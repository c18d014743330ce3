"""Shared by the statistic-threshold policies: consult when a base-model statistic exceeds `threshold`."""

from typing import Any, ClassVar

from experiments.stages.guided.policies.base import Policy


class StatAbove(Policy):
    OPTIONS = ("threshold",)
    needs_stats = True
    statistic: ClassVar[str] = ""

    def __init__(self, threshold: float = 3.0) -> None:
        self.threshold = threshold

    def consult(self, view: Any) -> bool:
        value = view.stats.get(self.statistic)
        return value is not None and value > self.threshold
