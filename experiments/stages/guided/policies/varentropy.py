"""`varentropy`: consult when the base model's next-token varentropy (bits^2) at the boundary exceeds `threshold`."""

from experiments.stages.guided.policies.threshold import StatAbove


class VarentropyAbove(StatAbove):
    name = "varentropy"
    statistic = "varentropy"
