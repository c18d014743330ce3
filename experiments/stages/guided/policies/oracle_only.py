"""`oracle_only`: the oracle writes the whole answer (the upper baseline)."""

from experiments.stages.guided.policies.base import Policy


class OracleOnly(Policy):
    name = "oracle_only"
    oracle_only = True

    def consult(self, view: object) -> bool:
        return True
