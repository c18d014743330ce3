"""The ready-made pipelines in examples/ validate as launched, and the confidence loop's file is exactly what
`confconsole demo --loop` runs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from experiments.demo import loop_spec
from experiments.runs.pipeline import plan
from experiments.stages import STAGES, parse_spec

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_validates_with_every_planned_run(path: Path) -> None:
    spec = parse_spec(tomllib.loads(path.read_text()))
    assert spec.stage == "pipeline" and plan(spec, STAGES)


def test_the_confidence_loop_file_is_the_demo_loop() -> None:
    from_file = parse_spec(tomllib.loads((EXAMPLES[0].parent / "confidence_loop.toml").read_text()))
    demo = parse_spec(loop_spec())
    assert [s.model_dump() for s in from_file.steps] == [s.model_dump() for s in demo.steps]
