"""`never`: the base model alone (the (0, 0) baseline)."""

from experiments.stages.guided.policies.base import Policy


class Never(Policy):
    name = "never"

    def consult(self, view: object) -> bool:
        return False
