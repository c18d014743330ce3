"""A delegation run's view is the Calibration view (its evaluation run's tables, then its own)."""

from experiments.stages.evaluation.views import calibration_view

__all__ = ["calibration_view"]
