"""Token prices for judge and delegation cost accounting (big and small models), in USD per 1M tokens
[input, output].

Resolution order: the spec's `prices` > the `[prices]` table of the user config file > the built-in defaults.
Names match exactly, then case-insensitively, then without a provider prefix (`openai/gpt-4o`), then by the
longest known prefix (dated snapshots such as `gpt-4o-2024-08-06`). Local or unknown models cost 0 and the
result says so (`source="unknown"`), so a zero in a report is never mistaken for a real price.

The defaults are list prices as published by the providers when this table was written; they change, so
override them in the config file rather than trusting them for billing.

Small models (the small side of a delegation table) are usually self-hosted, so they have no default: a local
alias or path costs $0 with `source="unknown"`, and delegation reports print that. To compare with hosted rates,
price them in the config or the spec; for scale, DeepInfra listed Qwen2.5-7B-Instruct at $0.025 in / $0.05 out per
1M tokens and Qwen2.5-Coder-32B-Instruct at $0.07 / $0.16 (deepinfra.com/Qwen/<model>/api, read 2026-11-22).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-haiku": (0.25, 1.25),
    "claude-3-opus": (15.00, 75.00),
    "gemini-1.5-flash": (0.075, 0.30),
    "gemini-1.5-pro": (1.25, 5.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "deepseek-chat": (0.27, 1.10),
    "deepseek-reasoner": (0.55, 2.19),
}

PER = 1_000_000


@dataclass(frozen=True)
class Price:
    model: str
    input_per_m: float
    output_per_m: float
    source: str  # spec | config | default | unknown (unknown = local or unpriced: costs 0)
    matched: str = ""  # the table entry that matched

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / PER

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pair(value: Any) -> tuple[float, float]:
    """[in, out] or {"input": .., "output": ..} -> (in, out); anything else raises ValueError."""
    if isinstance(value, Mapping):
        return float(value["input"]), float(value["output"])
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        return float(value[0]), float(value[1])
    raise ValueError(f"a price must be [input, output] in $ per 1M tokens, got {value!r}")


def config_prices(path: Path | None = None) -> dict[str, tuple[float, float]]:
    """The `[prices]` table of the user config (`model = [in, out]`); {} if there is no file or table."""
    if path is None:
        from experiments.runs.locations import config_file

        path = config_file()
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read prices from {path}: {exc}") from exc
    table = data.get("prices", {})
    if not isinstance(table, Mapping):
        raise ValueError(f"[prices] in {path} must be a table of model = [input, output]")
    return {str(k): _pair(v) for k, v in table.items()}


def _match(model: str, table: Mapping[str, tuple[float, float]]) -> str | None:
    if model in table:
        return model
    lower = {k.lower(): k for k in table}
    name = model.lower()
    candidates = [name, name.rsplit("/", 1)[-1]]
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    for cand in candidates:  # dated snapshots: the longest entry that prefixes the name at a '-' boundary
        hits = [k for k in lower if cand.startswith(k + "-") or cand.startswith(k + "@")]
        if hits:
            return lower[max(hits, key=len)]
    return None


def price_for(model: str, overrides: Mapping[str, Any] | None = None,
              config: Mapping[str, Any] | None = None,
              defaults: Mapping[str, tuple[float, float]] | None = None) -> Price:
    """Resolve a model's price. `config=None` reads the user config file; pass {} to ignore it."""
    layers: list[tuple[str, Mapping[str, Any]]] = [
        ("spec", overrides or {}),
        ("config", config_prices() if config is None else config),
        ("default", DEFAULT_PRICES if defaults is None else defaults),
    ]
    for source, table in layers:
        pairs = {str(k): _pair(v) for k, v in table.items()}
        key = _match(model, pairs)
        if key is not None:
            inp, out = pairs[key]
            return Price(model, inp, out, source, key)
    return Price(model, 0.0, 0.0, "unknown")


def describe(price: Price) -> str:
    if price.source == "unknown":
        return f"{price.model}: no price known (local or unpriced model), cost counted as $0"
    return (f"{price.model}: ${price.input_per_m:g}/1M input, ${price.output_per_m:g}/1M output "
            f"(from {price.source}: {price.matched})")
