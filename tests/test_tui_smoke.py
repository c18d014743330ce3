"""The operator smoke test: `scripts/tui_smoke.sh` drives the real console in tmux on a fresh home (demo, records,
three reviews by keyboard, quit, reopen, the reviews still there). Skipped where tmux is not installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")
def test_tui_smoke_script(tmp_path: Path) -> None:
    env = {**os.environ, "CONFCONSOLE": f"{sys.executable} -m tui_app.entry", "TMPDIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("CONFCONSOLE_HOME", None)
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "tui_smoke.sh")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=280)
    assert proc.returncode == 0 and "tui_smoke: OK" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-4000:]
