"""The guided-decoding spec: base + oracle + policy over a dataset and a (c, k) grid. Light imports only."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from experiments.datasets.base import DatasetSpec
from experiments.specs import DEFAULT_MAX_TOKENS, BackendSpec, BaseSpec, StrictModel

PolicyName = Literal["never", "always", "random_rising", "entropy", "varentropy", "oracle_only"]
ORACLE_ALONE = (-1, -1)  # the grid cell of the oracle writing every token


class ModelSamplingSpec(StrictModel):
    temperature: float = Field(0.0, ge=0, description="0 = greedy")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass")
    seed: int | None = Field(0, description="sampling seed of this model's session")


class GuidedSpec(BaseSpec):
    """Guided decoding: a small base model with a big oracle at points a policy picks."""

    stage: Literal["guided"] = "guided"
    dataset: DatasetSpec = Field(default_factory=lambda: DatasetSpec(source="arith"),
                                 description="questions to answer (graded by their domain)")
    base: str = Field("smollm2-135m", description="the small model that writes (alias, folder or hub id)")
    oracle: str = Field("smollm2-135m", description="the big model consulted at chosen points")
    base_backend: BackendSpec = Field(default_factory=BackendSpec, description="engine of the base (hf, vllm, ...)")
    oracle_backend: BackendSpec = Field(default_factory=BackendSpec,
                                        description="engine of the oracle (hf, vllm, openai_compat with base_url)")
    policy: PolicyName = Field("random_rising", description="where the oracle steps in")
    c: int = Field(5, ge=0, description="consultations per answer at most")
    k: int = Field(10, ge=0, description="oracle tokens per consultation")
    grid: list[list[int]] = Field(default_factory=list,
                                  description="more [c, k] cells; (0, 0) and the oracle alone are always run")
    step_size: int = Field(10, ge=1, description="base tokens between two decision points")
    max_new_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=1, description="answer tokens (base + oracle) at most")
    threshold: float = Field(3.0, description="entropy / varentropy policies: consult above this (bits)")
    p_start: float = Field(0.1, ge=0, le=1, description="random_rising: probability at position 0")
    p_end: float = Field(1.0, ge=0, le=1, description="random_rising: probability at max_new_tokens")
    seed: int = Field(0, description="policy seed (per-answer RNGs derive from it)")
    base_sampling: ModelSamplingSpec = Field(default_factory=ModelSamplingSpec, description="base sampling")
    oracle_sampling: ModelSamplingSpec = Field(default_factory=ModelSamplingSpec, description="oracle sampling")
    n: int = Field(1, ge=1, description="answers per question (sample_idx)")
    chunk_size: int = Field(16, ge=1, description="questions per chunk: the batch and the unit of resume")
    stats: Literal["during", "after", "none"] = Field(
        "during", description="base statistics: during generation (hf base), after (teacher-forced pass), none")
    attention_stats: bool = Field(False, description="also last-layer attention statistics (costs time)")
    ignore_eos: bool = Field(False, description="fixed-length answers (benchmarks)")
    live_tokens: bool = Field(True, description="emit token_batch events for the live view")

    @field_validator("grid")
    @classmethod
    def pairs(cls, value: list[list[int]]) -> list[list[int]]:
        for cell in value:
            if len(cell) != 2 or min(cell) < 0:
                raise ValueError(f"grid cells are [c, k] pairs of non-negative ints, got {cell}")
        return value

    def cells(self) -> list[tuple[int, int]]:
        """(0, 0), the spec's (c, k), the grid, then the oracle alone (-1, -1); no repeats."""
        out: list[tuple[int, int]] = []
        for cell in [(0, 0), (self.c, self.k), *[(c, k) for c, k in self.grid], ORACLE_ALONE]:
            cell = (0, 0) if cell != ORACLE_ALONE and 0 in cell else cell
            if cell not in out:
                out.append(cell)
        return out
