"""`always`: the oracle after every base step until the budget is spent (base and oracle alternate)."""

from experiments.stages.guided.policies.base import Policy


class Always(Policy):
    name = "always"

    def consult(self, view: object) -> bool:
        return True
