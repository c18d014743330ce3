"""Spec building blocks shared by every stage, and parsing through the stage registry.

Specs are declarative, validated (pydantic) and stored as TOML in each run folder exactly as launched. Unknown keys
are refused with the nearest valid name (`temprature` -> `temperature`), at any depth. A spec never holds secrets:
API keys are named by environment variable (`api_key_env`), never by value. `then` chains stages: the spec is
launched as a pipeline of itself and those steps, each reading the one before. Each stage's own spec lives in its
package (`experiments/stages/<name>/spec.py`); parsing goes through a stage registry (`experiments.runs.registry`);
this module holds only the shared parts.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# One place for sampling defaults: every stage and CLI reads these.
DEFAULT_MAX_TOKENS = 256
DEFAULT_TEMPERATURE = 0.0

# Option names that hold a secret's *value*. Matched as whole `_`-separated words, so engine options such as
# `max_num_batched_tokens`, `tokenizer` or `tokenizer_mode` are not mistaken for secrets; `*_env` names a variable.
SECRET_NAME = re.compile(r"(^|_)(api_?key|secret|password|passwd|access_?key|auth_?token|bearer|token|"
                         r"hf_token|credentials?|authorization)($|_)")
# Values shaped like a provider's key (OpenAI/Anthropic sk-, Hugging Face hf_, AWS AKIA/ASIA, GitHub, Slack).
SECRET_VALUE = re.compile(r"^(sk-|sk_|hf_|AKIA|ASIA|ghp_|gho_|github_pat_|xox[abpr]-)[A-Za-z0-9_\-]{16,}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KEY_HINT = ("specs are saved with the run, so they never hold a key: put it in an environment variable and name "
            "the variable, e.g. api_key_env = \"MY_API_KEY\"")


def is_secret_name(key: str) -> bool:
    low = key.lower()
    if low.endswith("_env"):
        return False
    return bool(SECRET_NAME.search(low))


class StrictModel(BaseModel):
    """A spec part that refuses unknown keys (a typo must never be silently dropped)."""

    model_config = ConfigDict(extra="forbid")


class SamplingSpec(StrictModel):
    n: int = Field(1, ge=1, description="samples per prompt")
    temperature: float = Field(DEFAULT_TEMPERATURE, ge=0, description="0 = greedy")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass")
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=1, description="new tokens per answer")
    seed: int | None = Field(0, description="per-request seeds derive from it (reproducible after resume)")
    stop: list[str] = Field(default_factory=list, description="strings that end an answer")
    logprobs: int | None = Field(None, description="top-k logprobs per generated token")
    ignore_eos: bool = Field(False, description="fixed-length outputs (benchmarks)")


class BackendSpec(StrictModel):
    """Which engine runs the model. `options` go to the backend's constructor (batch_size, base_url, ...)."""

    kind: Literal["hf", "vllm", "openai_compat", "bedrock"] = Field(
        "hf", description="the engine: hf (transformers), vllm, openai_compat (a server: options.base_url), bedrock")
    options: dict[str, Any] = Field(default_factory=dict, description="engine options (batch_size, base_url, ...)")
    server: Literal["none", "local"] = Field("none", description="local: the run starts and stops a vLLM server")
    server_args: list[str] = Field(default_factory=list, description="extra `vllm serve` arguments (server = local)")

    @field_validator("options")
    @classmethod
    def no_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        refuse_secrets(value, "backend option")
        return value


def refuse_secrets(value: Any, where: str) -> None:
    """Refuse a literal secret anywhere in `value` (nested tables and lists too): a key-named field, a value
    shaped like a provider's key, or an `*_env` field that holds the key instead of a variable's name."""
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{where} {key!r}"
            if str(key).lower().endswith("_env") and isinstance(item, str) and not ENV_NAME.match(item):
                raise ValueError(f"{name} names an environment variable (letters, digits, _), not the key itself: "
                                 f"{KEY_HINT}")
            if is_secret_name(str(key)):
                raise ValueError(f"{name} looks like a secret; {KEY_HINT}")
            refuse_secrets(item, name)
    elif isinstance(value, list):
        for item in value:
            refuse_secrets(item, where)
    elif isinstance(value, str) and SECRET_VALUE.match(value.strip()):
        raise ValueError(f"{where} holds what looks like an API key; {KEY_HINT}")


class BaseSpec(StrictModel):
    """Fields every stage's spec has. A stage spec adds `stage: Literal["<name>"]` and its own fields."""

    stage: str
    title: str = Field("", description="a name for the run in lists (default: made from the spec)")
    group: str | None = Field(None, description="runs launched together (a pipeline) share a group")
    then: list[dict[str, Any]] = Field(default_factory=list, description="stages to run on this run's output, in "
                                       "order (the spec is launched as a pipeline of itself and these steps)")


class SpecError(ValueError):
    """A spec that does not validate: the message names every bad field and suggests fixes."""


def explain(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line per error; unknown keys get the nearest valid name at their level."""
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        where = ".".join(loc) or "spec"
        if err["type"] == "extra_forbidden":
            valid = _fields_at(model, loc[:-1])
            near = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else f"; valid: {', '.join(sorted(valid))}"
            lines.append(f"unknown key {where!r}{hint}")
        else:
            lines.append(f"{where}: {err['msg']}")
    return f"invalid {model.__name__}: " + "; ".join(lines)


def _fields_at(model: type[BaseModel], path: list[str]) -> list[str]:
    current: Any = model
    for part in path:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = _model_of(field.annotation)
    return list(getattr(current, "model_fields", {}))


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def spec_to_toml(spec: BaseModel) -> str:
    return tomli_w.dumps(_drop_none(spec.model_dump(mode="json")))


def _drop_none(obj: Any) -> Any:
    """TOML has no null: leave unset optionals out (they come back as their defaults)."""
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj
