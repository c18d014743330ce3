"""Run specs: declarative, validated (pydantic), stored as TOML in each run folder exactly as launched.

A spec never holds secrets: API keys are named by environment variable (`api_key_env`), never by value.
`then` chains stages: when a run finishes, the next spec is launched with `input_run` set to it.
"""

from __future__ import annotations

import tomllib
from typing import Annotated, Any, Literal, Union

import tomli_w
from pydantic import BaseModel, Field, TypeAdapter, field_validator

from experiments.datasets.base import DatasetSpec

SECRET_HINTS = ("api_key", "token", "secret", "password")


class SamplingSpec(BaseModel):
    n: int = Field(1, ge=1)
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(256, ge=1)
    seed: int | None = 0
    stop: list[str] = Field(default_factory=list)
    logprobs: int | None = None
    ignore_eos: bool = False  # fixed-length outputs (benchmarks)


class BackendSpec(BaseModel):
    """Which engine runs the model. `options` go to the backend's constructor (batch_size, base_url, ...)."""

    kind: Literal["hf", "vllm", "openai_compat"] = "hf"
    options: dict[str, Any] = Field(default_factory=dict)
    server: Literal["none", "local"] = "none"  # local: the run starts and stops its own vLLM server
    server_args: list[str] = Field(default_factory=list)

    @field_validator("options")
    @classmethod
    def no_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if any(h in key.lower() for h in SECRET_HINTS) and not key.lower().endswith("_env"):
                raise ValueError(f"backend option {key!r} looks like a secret: name an environment variable "
                                 f"instead ({key}_env = \"MY_VAR\")")
        return value


class BaseSpec(BaseModel):
    title: str = ""
    group: str | None = None  # runs launched together (a demo pipeline) share a group
    then: list[dict[str, Any]] = Field(default_factory=list)


class InferenceSpec(BaseSpec):
    stage: Literal["inference"] = "inference"
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    model: str = "smollm2-135m"
    backend: BackendSpec = Field(default_factory=BackendSpec)
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    chunk_size: int = Field(8, ge=1, description="examples per chunk (the unit of resume)")
    max_prompt_length: int | None = Field(None, ge=1)
    truncation: Literal["left", "right", "error"] = "error"
    data_parallel: int = Field(1, ge=1, description="worker processes (CPU, or one per GPU when gpus is empty)")
    gpus: list[int] = Field(default_factory=list, description="GPU ids; one worker per tensor_parallel group")
    tensor_parallel: int = Field(1, ge=1)
    chunk_id: int | None = Field(None, ge=0, description="compute only this chunk (seed-style per-GPU jobs)")
    force_regenerate: bool = False  # a resume of this run recomputes every chunk


class GradingSpec(BaseSpec):
    stage: Literal["grading"] = "grading"
    input_run: str = ""
    domain: str | None = None  # override the records' domain
    workers: int = Field(2, ge=1)
    timeout: float = Field(5.0, gt=0)


class JudgingSpec(BaseSpec):
    """An LLM judge over an inference run's records (seed 000): JSON verdicts, usage and cost."""

    stage: Literal["judging"] = "judging"
    input_run: str = ""
    model: str = "smollm2-135m"  # the judge model (served name for openai_compat)
    backend: BackendSpec = Field(default_factory=lambda: BackendSpec(kind="openai_compat"))
    num_workers: int = Field(8, ge=1, description="concurrent judge requests")
    max_tokens: int = Field(512, ge=1)
    temperature: float = Field(0.0, ge=0)
    parse_retries: int = Field(2, ge=0, description="re-asks when the verdict is not valid JSON")
    structured_output: bool = True  # ask for a JSON schema where the server supports it
    structured_format: Literal["response_format", "structured_outputs"] = "response_format"  # OpenAI / vLLM
    chunk_size: int = Field(32, ge=1)
    prices: dict[str, list[float]] = Field(default_factory=dict)  # model -> [$/1M input, $/1M output]


class TaggingSpec(BaseSpec):
    stage: Literal["tagging"] = "tagging"
    input_run: str = ""
    style: Literal["angle", "pipe"] = "angle"  # <CN_MATH> or <|c_math|>
    domain_names: dict[str, str] = Field(default_factory=dict)  # record domain -> token domain name
    verdict: Literal["auto", "rule", "judge"] = "auto"  # auto: the rule verdict, else the judge's
    incorrect_ratio: float | None = Field(None, ge=0, description="Self-REF-style: keep this many incorrect "
                                          "examples per correct one (None keeps all)")
    seed: int = 0


Spec = Annotated[Union[InferenceSpec, GradingSpec, JudgingSpec, TaggingSpec], Field(discriminator="stage")]
SPEC_ADAPTER: TypeAdapter[Spec] = TypeAdapter(Spec)
STAGES = ("inference", "grading", "judging", "tagging")


def parse_spec(data: dict[str, Any]) -> Spec:
    return SPEC_ADAPTER.validate_python(data)


def spec_to_toml(spec: BaseModel) -> str:
    return tomli_w.dumps(_drop_none(spec.model_dump(mode="json")))


def spec_from_toml(text: str) -> Spec:
    return parse_spec(tomllib.loads(text))


def _drop_none(obj: Any) -> Any:
    """TOML has no null: leave unset optionals out (they come back as their defaults)."""
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj
