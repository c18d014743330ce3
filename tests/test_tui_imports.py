"""The TUI stays light: importing it pulls in neither backends nor torch; views never import Textual."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("backends", "torch", "transformers", "vllm")


def _modules_after(statement: str) -> set[str]:
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_tui_app_does_not_import_backends_or_torch():
    modules = _modules_after("from tui_app.app import make_app\nmake_app('/tmp/confconsole-import-test')")
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not heavy, heavy
    assert "tui_app.screens.runs" in modules


def test_views_do_not_import_textual():
    modules = _modules_after("import experiments.views.runs, experiments.views.records")
    assert not any(m.split(".")[0] == "textual" for m in modules)
