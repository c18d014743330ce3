"""The grading spec: rule verdicts over an inference run's records."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from experiments.specs import BaseSpec


class GradingSpec(BaseSpec):
    """Grade an inference run by rule, in a process pool with a hard per-item timeout."""

    stage: Literal["grading"] = "grading"
    input_run: str = Field("", description="the inference run to grade")
    domain: str | None = Field(None, description="override the records' domain")
    workers: int = Field(0, ge=0, description="grader processes; 0 = one per core (os.cpu_count() where it runs)")
    timeout: float = Field(5.0, gt=0, description="seconds per answer before it is recorded as timeout")
