"""The tagging spec: confidence tokens from rule or judge verdicts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from experiments.specs import BaseSpec


class TaggingSpec(BaseSpec):
    """Confidence-tag a graded or judged run: <CN_MATH> right, <UN_MATH> wrong."""

    stage: Literal["tagging"] = "tagging"
    input_run: str = Field("", description="the graded or judged run to tag")
    style: Literal["angle", "pipe"] = Field("angle", description="<CN_MATH> or <|c_math|>")
    domain_names: dict[str, str] = Field(default_factory=dict, description="record domain -> token domain name")
    verdict: Literal["auto", "rule", "judge", "human", "best"] = Field(
        "auto", description="whose verdict sets the token: rule, judge, human (the run's reviews), best (human "
        "where reviewed, else judge, else rule); auto: the rule verdict, else the judge's")
    incorrect_ratio: float | None = Field(None, ge=0, description="Self-REF-style: keep this many incorrect "
                                          "examples per correct one (None keeps all)")
    seed: int = Field(0, description="seed of the incorrect_ratio subsample")
