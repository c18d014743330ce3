"""The evaluation spec: a model (+ LoRA adapter) over a test set, or an inference run of it, measured for the
calibration of its confidence tokens. Light imports only (the TUI builds its launch form from it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from experiments.datasets.base import DatasetSpec
from experiments.specs import BackendSpec, BaseSpec, SamplingSpec


class EvaluationSpec(BaseSpec):
    """Accuracy, calibration accuracy, token distribution, P(confident), AUROC, ECE, Brier, reliability."""

    stage: Literal["evaluation"] = "evaluation"
    input_run: str = Field("", description="an inference run with the model's answers; empty: generate them "
                           "here (dataset, model, adapter, backend, sampling)")
    dataset: DatasetSpec = Field(default_factory=DatasetSpec, description="the test set (when generating)")
    model: str = Field("smollm2-135m", description="base model: alias, local HF folder, or hub id")
    adapter: str | None = Field(None, description="LoRA adapter: a peft folder or an sft run id")
    backend: BackendSpec = Field(default_factory=BackendSpec, description="the engine that generates")
    sampling: SamplingSpec = Field(default_factory=SamplingSpec, description="set logprobs (e.g. 20) to read "
                                   "P(confident) from the engine instead of a scoring pass")
    chunk_size: int = Field(8, ge=1, description="examples per chunk (the unit of resume)")
    max_prompt_length: int | None = Field(None, ge=1, description="prompt tokens; longer prompts follow truncation")
    truncation: Literal["left", "right", "error"] = Field("error", description="cut the prompt's content, or refuse")
    domain: str | None = Field(None, description="grade every record as this domain (default: its own)")
    style: Literal["auto", "angle", "pipe"] = Field("auto", description="token style for answers without a token "
                                                    "(auto: the style the model used most)")
    p_confident: Literal["auto", "logprobs", "scoring", "off"] = Field(
        "auto", description="P(confident) from the engine's top-k logprobs at the token, a scoring pass "
        "(teacher forcing through the hf model), auto (logprobs where they have both tokens, else scoring), or off")
    scoring_batch_size: int = Field(8, ge=1, description="answers per scoring forward pass")
    scoring_device: str | None = Field(None, description="device of the scoring pass (default: cuda if any)")
    grade_workers: int = Field(2, ge=1, description="grader processes")
    grade_timeout: float = Field(5.0, gt=0, description="seconds per answer before it is recorded as timeout")
    bins: int = Field(10, ge=2, description="equal-width bins of the reliability diagram and ECE")
    threshold: float | None = Field(None, ge=0, le=1, description="also decide \"confident\" as P(confident) >= "
                                    "this (the written token where P is unknown); the written tokens' figures stay")
    threshold_from: str = Field("", description="an earlier evaluation run (a calibration split, never this test "
                                "set) whose records choose the threshold: the best calibration accuracy there")

    @model_validator(mode="after")
    def _one_threshold(self) -> EvaluationSpec:
        if self.threshold is not None and self.threshold_from:
            raise ValueError("give threshold or threshold_from (an evaluation run that chooses it), not both")
        return self
