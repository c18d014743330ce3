"""Consultation policies by name. A policy is one small class in its own module; add a module and a line here."""

from __future__ import annotations

import importlib
from typing import Any

from experiments.stages.guided.policies.base import Policy

POLICIES: dict[str, str] = {
    "never": "never:Never",
    "always": "always:Always",
    "random_rising": "random_rising:RandomRising",
    "entropy": "entropy:EntropyAbove",
    "varentropy": "varentropy:VarentropyAbove",
    "oracle_only": "oracle_only:OracleOnly",
}


def make_policy(name: str, **options: Any) -> Policy:
    try:
        target = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}") from None
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    return cls(**{k: v for k, v in options.items() if k in cls.OPTIONS})
