"""`entropy`: consult when the base model's next-token entropy (bits) at the step boundary exceeds `threshold`."""

from experiments.stages.guided.policies.threshold import StatAbove


class EntropyAbove(StatAbove):
    name = "entropy"
    statistic = "entropy"
