"""Package boundaries: the headless core never imports Textual or the TUI; the TUI never imports backends; a
stage whose CLI module is broken fails the CLI loudly."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def modules_of(package: str) -> list[str]:
    names = [package]
    for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
        names.append(info.name)
    return names


def imported_after(modules: list[str]) -> dict[str, list[str]]:
    """Import each module in one fresh interpreter; report which of textual/torch each pulled in."""
    code = (
        "import importlib, json, sys\n"
        "out = {}\n"
        f"for name in {modules!r}:\n"
        "    before = set(sys.modules)\n"
        "    importlib.import_module(name)\n"
        "    out[name] = sorted(m for m in ('textual', 'torch', 'backends', 'vllm', 'tui_app', 'experiments.stages')\n"
        "                       if m in sys.modules)\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_core_and_backends_never_import_textual_or_the_tui() -> None:
    modules = [m for m in modules_of("experiments") + modules_of("backends")
               if not m.endswith(("vllm_engine", "vllm_vocab_limit", "__main__"))]
    seen = imported_after(modules)
    leaks = {name: mods for name, mods in seen.items() if "textual" in mods or "tui_app" in mods}
    assert not leaks, f"textual or tui_app imported by: {leaks}"
    assert len(seen) >= 15 and "experiments.cli.main" in seen and "experiments.stages.form" in seen


def test_the_run_kernel_knows_no_stage() -> None:
    """`experiments.runs` (and the spec building blocks) get the stage registry handed in; they never import it,
    not even lazily inside a function."""
    kernel = [f"experiments.runs.{p.stem}" for p in (ROOT / "experiments" / "runs").glob("*.py")]
    seen = imported_after([*kernel, "experiments.specs"])
    assert not {name: mods for name, mods in seen.items() if "experiments.stages" in mods}
    for path in [*(ROOT / "experiments" / "runs").rglob("*.py"), ROOT / "experiments" / "specs.py"]:
        assert "experiments.stages" not in path.read_text(), path


def test_no_experiments_source_names_tui_app() -> None:
    """Also lazy imports inside functions, which importing a module does not run."""
    for path in (ROOT / "experiments").rglob("*.py"):
        text = path.read_text()
        assert "from tui_app" not in text and "import tui_app" not in text, path


def test_a_broken_stage_cli_fails_loudly(tmp_path, monkeypatch) -> None:
    """A stage whose cli module cannot be imported must fail the CLI, never silently lose its commands."""
    import experiments.stages as stages
    from experiments.cli.main import main

    package = tmp_path / "brokenstage"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text("import a_module_that_does_not_exist\n\ndef register(sub):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    broken = stages.Stage("brokenstage", "BrokenSpec", "broken", cli=True, package="brokenstage")
    monkeypatch.setitem(stages.STAGES._stages, "brokenstage", broken)
    with pytest.raises(ModuleNotFoundError, match="a_module_that_does_not_exist"):
        main(["runs"])
    with pytest.raises(ModuleNotFoundError):
        main(["--help"])
    monkeypatch.delitem(stages.STAGES._stages, "brokenstage")
    assert main(["--home", str(tmp_path), "runs"]) == 0  # without it the CLI works again


def test_backends_do_not_import_experiments() -> None:
    for path in (ROOT / "backends").rglob("*.py"):
        text = path.read_text()
        assert "from experiments" not in text and "import experiments" not in text, path


def test_cli_and_core_imports_stay_light() -> None:
    """Starting the CLI or reading runs must not import torch (the TUI starts in well under a second)."""
    seen = imported_after(["experiments.cli.main", "experiments.runs.store", "experiments.runs.state",
                           "experiments.runs.jobs"])
    assert all("torch" not in mods for mods in seen.values()), seen
