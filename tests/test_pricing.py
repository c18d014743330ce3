"""Price table lookup: defaults, snapshot names, provider prefixes, spec/config overrides, unknown = 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments import pricing
from experiments.pricing import price_for


def test_default_lookup_and_cost() -> None:
    p = price_for("gpt-4o-mini", config={})
    assert (p.input_per_m, p.output_per_m, p.source) == (0.15, 0.60, "default")
    assert p.cost(1_000_000, 500_000) == pytest.approx(0.15 + 0.30)
    assert p.cost(1000, 100) == pytest.approx((1000 * 0.15 + 100 * 0.60) / 1e6)


@pytest.mark.parametrize("name, matched", [
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
    ("GPT-4O", "gpt-4o"),
    ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
])
def test_name_matching(name: str, matched: str) -> None:
    p = price_for(name, config={})
    assert p.matched == matched and p.source == "default"


def test_unknown_and_local_models_cost_zero() -> None:
    for name in ("smollm2-135m", "/models/Qwen2.5-7B-Instruct", "mystery-model"):
        p = price_for(name, config={})
        assert p.source == "unknown" and p.cost(10_000, 10_000) == 0.0
    assert "no price known" in pricing.describe(price_for("smollm2-135m", config={}))


def test_spec_overrides_beat_config_beat_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[prices]\n"gpt-4o" = [1.0, 2.0]\n"my-judge" = {input = 0.5, output = 1.5}\n')
    config = pricing.config_prices(cfg)
    assert config == {"gpt-4o": (1.0, 2.0), "my-judge": (0.5, 1.5)}
    assert price_for("gpt-4o", config=config).source == "config"
    assert price_for("gpt-4o", config=config).input_per_m == 1.0
    assert price_for("my-judge", config=config).output_per_m == 1.5
    p = price_for("gpt-4o", {"gpt-4o": [3.0, 4.0]}, config=config)
    assert (p.input_per_m, p.output_per_m, p.source) == (3.0, 4.0, "spec")
    assert price_for("smollm2-135m", {"smollm2-135m": [0.1, 0.2]}, config={}).cost(1e6, 1e6) == pytest.approx(0.3)


def test_config_file_from_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.toml"
    monkeypatch.setattr("experiments.runs.locations.config_file", lambda: cfg)
    assert pricing.config_prices() == {}  # no file: no table
    cfg.write_text("[prices]\nlocal-judge = [0.2, 0.4]\n")
    assert price_for("local-judge").source == "config"
    cfg.write_text("[prices]\nbad = [1]\n")
    with pytest.raises(ValueError):
        price_for("local-judge")
