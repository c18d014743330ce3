"""The delegation spec: an evaluation run's uncertain answers handed to a big model, with prices."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from experiments.specs import BackendSpec, BaseSpec, SamplingSpec


class DelegationSpec(BaseSpec):
    """Hand uncertain/missing/low-P(confident) answers to an oracle; accuracy-cost table and threshold sweep."""

    stage: Literal["delegation"] = "delegation"
    input_run: str = Field("", description="the evaluation run of the small model")
    oracle_model: str = Field("", description="the big model (served name, Bedrock id, alias or path)")
    oracle_backend: BackendSpec = Field(default_factory=lambda: BackendSpec(kind="openai_compat"),
                                        description="engine of the big model: openai_compat (base_url), "
                                        "bedrock, hf or vllm")
    oracle_sampling: SamplingSpec = Field(default_factory=SamplingSpec, description="the big model's sampling")
    oracle_system_prompt: str | None = Field(None, description="system prompt for the big model")
    oracle_run: str = Field("", description="an inference/graded run of the big model over the same examples: "
                            "its answers are reused instead of asking again")
    scope: Literal["all", "delegated"] = Field("all", description="ask the big model every question (full "
                                               "threshold sweep, big-model-alone row) or only the delegated ones")
    threshold: float | None = Field(None, ge=0, le=1, description="also delegate answers with P(confident) "
                                    "below this")
    target_accuracy: float | None = Field(None, ge=0, le=1, description="pick the cheapest point of the sweep "
                                          "reaching this accuracy")
    budget: float | None = Field(None, ge=0, description="pick the most accurate point costing at most this "
                                 "(USD over the test set)")
    small_model: str | None = Field(None, description="the small model's name in tables and prices (default: "
                                    "the evaluated model)")
    prices: dict[str, list[float]] = Field(default_factory=dict, description="USD per 1M tokens [input, output] "
                                           "by model name; over the config file and experiments/pricing.py")
    grade_workers: int = Field(2, ge=1, description="grader processes")
    grade_timeout: float = Field(5.0, gt=0, description="seconds per answer before it is recorded as timeout")
