"""`random_rising` (the reference behaviour): consult with a probability that rises with the position.

p(position) = p_start + (p_end - p_start) * position / max_new_tokens, clipped to [0, 1]; drawn from the row's
seeded RNG, so a rerun with the same seed consults at the same points.
"""

from typing import Any

from experiments.stages.guided.policies.base import Policy


class RandomRising(Policy):
    name = "random_rising"
    OPTIONS = ("p_start", "p_end")

    def __init__(self, p_start: float = 0.1, p_end: float = 1.0) -> None:
        self.p_start, self.p_end = p_start, p_end

    def probability(self, position: int, max_new_tokens: int) -> float:
        frac = position / max(1, max_new_tokens)
        return min(1.0, max(0.0, self.p_start + (self.p_end - self.p_start) * frac))

    def consult(self, view: Any) -> bool:
        return view.rng.random() < self.probability(view.position, view.max_new_tokens)
