"""The stage contract, checked for every stage in the registry (a stage added later is checked with no edit here):
its spec round-trips through TOML, refuses unknown keys with a suggestion (top level and nested), imports
without torch, Textual or backends; its CLI commands answer `--help` through `experiments.cli.main`; and the TUI
builds its launch form (Pilot)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from experiments.cli.main import main
from experiments.specs import SpecError, spec_to_toml
from experiments.stages import STAGES, Stage, parse_spec, spec_from_toml
from experiments.stages import form as sf
from tests.tui_fixtures import make_run, settle, wait_for

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "textual", "backends", "transformers", "vllm", "tui_app")
INPUT_RUN = "inference-20260528-000000-aaaa"
stages = pytest.mark.parametrize("stage", list(STAGES.values()), ids=list(STAGES))

SAMPLES = {"int": "1", "float": "1.0", "text": "x", "toml": "[]", "bool": True}


def filled_values(stage: Stage) -> dict[str, Any]:
    """The form's defaults with every required field (and a reading stage's input run) filled in."""
    descriptors = sf.describe_stage(stage.name)
    values, _ = sf.initial_values(descriptors)
    for desc in sf.leaves(descriptors):
        if desc.required:
            values[desc.key] = desc.choices[0] if desc.kind == "choice" else SAMPLES[desc.kind]
    if stage.needs_input and "input_run" in values:
        values["input_run"] = INPUT_RUN
    return values


def default_spec(stage: Stage) -> Any:
    state = sf.evaluate(stage.name, filled_values(stage))
    assert state.spec is not None, state.message
    return state.spec


def typo(name: str) -> str:
    return name[:-1] if len(name) > 4 else name + "x"


@stages
def test_default_spec_round_trips_through_toml(stage):
    spec = default_spec(stage)
    assert type(spec) is stage.spec_model() and spec.stage == stage.name
    text = spec_to_toml(spec)
    assert spec_from_toml(text) == spec
    assert spec_to_toml(spec_from_toml(text)) == text
    assert parse_spec(spec.model_dump()) == spec


@stages
def test_unknown_keys_are_refused_with_a_suggestion(stage):
    data = default_spec(stage).model_dump(mode="json")
    top = next(name for name in stage.spec_model().model_fields if len(name) >= 4 and name != "stage")
    with pytest.raises(SpecError, match=f"unknown key '{typo(top)}'; did you mean '{top}'"):
        parse_spec({**data, typo(top): data.get(top)})
    for section in (d for d in sf.describe_stage(stage.name) if d.kind == "section"):
        inner = next(d.name for d in section.children if len(d.name) >= 4)
        nested = {**data, section.name: {**data[section.name], typo(inner): 1}}
        where = f"{section.name}.{typo(inner)}"
        with pytest.raises(SpecError, match=f"unknown key '{where}'; did you mean '{inner}'"):
            parse_spec(nested)


@stages
def test_spec_module_imports_light(stage):
    code = (f"import importlib, json, sys\nimportlib.import_module('{stage.package}.spec')\n"
            f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def stage_commands(stage: Stage) -> list[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    stage.register_cli(sub)
    return list(sub.choices)


@stages
def test_cli_help_works_through_main(stage, capsys):
    if not stage.cli:
        pytest.skip(f"{stage.name} has no CLI")
    commands = stage_commands(stage)
    assert commands, f"{stage.name} registers no command"
    for command in commands:
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        assert f"usage: confconsole {command}" in capsys.readouterr().out


@stages
async def test_launch_form_builds(stage, tmp_path):
    from tui_app.app import make_app
    from tui_app.screens.launch import LaunchScreen
    from tui_app.widgets.spec_form import SpecForm, widget_id

    make_run(tmp_path, INPUT_RUN)
    app = make_app(tmp_path, refresh_interval=0, poll_interval=0)
    async with app.run_test(size=(150, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.state is not None)
        screen = app.screen
        screen.query_one("#stage-picker").value = stage.name
        await wait_for(pilot, lambda: screen.stage == stage.name and screen.state is not None
                       and screen.state.data.get("stage") == stage.name)
        form = screen.query_one(SpecForm)
        leaves = sf.leaves(sf.describe_stage(stage.name))
        for desc in leaves:
            assert screen.query(f"#{widget_id(desc.key)}"), f"no field for {desc.key}"
        for key, value in filled_values(stage).items():
            form.set_value(key, value)
        await wait_for(pilot, lambda: screen.state.ok)
        toml = str(screen.query_one("#toml").render())
        assert f'stage = "{stage.name}"' in toml
        assert spec_from_toml(toml) == default_spec(stage)
        bad = next(d for d in leaves if d.kind in ("int", "float", "toml"))
        form.set_value(bad.key, "not [valid")
        await wait_for(pilot, lambda: bad.key in form.errors)
        assert "✗" in str(screen.query_one(f"#label-{widget_id(bad.key)}").render())
        assert "not valid yet" in str(screen.query_one("#toml").render())
