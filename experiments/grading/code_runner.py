"""Code answers: run the candidate program against its tests in a limited child interpreter.

Limits: wall time (parent kills the process group), address space and file size (setrlimit in
``preexec_fn``), CPU seconds, a throwaway working directory, ``python -I`` (no user site, no env
vars), and a best-effort network block inside the harness. This is a guard against accidents in
model output, not a security sandbox: run untrusted code in a container.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from experiments.grading.verdict import Verdict, error, no_answer, ok

HARNESS = Path(__file__).with_name("code_harness.py")
DEFAULT_TIME_LIMIT_S = 3.0
DEFAULT_MEMORY_MB = 1024
OUTPUT_LIMIT_BYTES = 1 << 20
EXTRACT_LIMIT = 4000

try:
    _LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None
except OSError:
    _LIBC = None

_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def extract_program(response: str) -> str:
    """Last ```python block, else the last untagged fenced block, else the whole text."""
    blocks = _FENCE_RE.findall(response)
    py = [body for lang, body in blocks if lang.lower() in ("python", "python3", "py")]
    if py:
        return py[-1]
    bare = [body for lang, body in blocks if not lang]
    if bare:
        return bare[-1]
    return response


def _limits(memory_mb: int, cpu_s: int) -> None:
    """Runs in the child between fork and exec: no imports or allocation-heavy work here."""
    mem = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT_BYTES, OUTPUT_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if _LIBC is not None:  # die with the grader: a SIGKILLed pool worker must not leave orphans running
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)


def run_in_sandbox(spec: dict, time_limit: float, memory_mb: int) -> dict:
    """Run the harness on ``spec``; returns {"passed": bool, "reason": str}."""
    work = tempfile.mkdtemp(prefix="grade_code_")
    proc = None
    try:
        spec_path, result_path, log_path = (
            os.path.join(work, n) for n in ("spec.json", "result.json", "log")
        )
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": work,
            "PYTHONIOENCODING": "utf-8",
            "OMP_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        cpu = int(time_limit) + 2
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-I", str(HARNESS), spec_path, result_path],
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: _limits(memory_mb, cpu),
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=time_limit)
            except subprocess.TimeoutExpired:
                return {"passed": False, "reason": f"time limit exceeded ({time_limit:g}s)"}
        try:
            with open(result_path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            with open(log_path, "rb") as f:
                tail = f.read()[-300:].decode("utf-8", "replace").strip().splitlines()
            why = {
                -signal.SIGXFSZ: "output limit exceeded",
                -signal.SIGXCPU: "CPU limit exceeded",
                -signal.SIGKILL: "killed (memory or time limit)",
            }.get(rc, f"exit code {rc}")
            last = f": {tail[-1][:200]}" if tail else ""
            return {"passed": False, "reason": f"program ended without a result ({why}){last}"}
    finally:
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def grade_code(
    response: str,
    gold: object = "",
    tests: str | None = None,
    test_cases: list | None = None,
    entry_point: str | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT_S,
    memory_mb: int = DEFAULT_MEMORY_MB,
    **_: object,
) -> Verdict:
    """Pass = every test passes. Tests come from context (``tests`` / ``test_cases``), else ``gold``."""
    program = extract_program(response)
    if not program.strip():
        return no_answer("empty program")
    if tests is None and test_cases is None:
        if isinstance(gold, list):
            test_cases = gold
        elif isinstance(gold, str) and gold.strip():
            tests = gold
        else:
            return error("no tests given (context 'tests' or 'test_cases')", program[:EXTRACT_LIMIT])
    if test_cases is not None:
        if isinstance(test_cases, str):
            test_cases = json.loads(test_cases)
        spec = {"mode": "io", "program": program, "cases": list(test_cases), "case_time_limit": time_limit}
    else:
        spec = {"mode": "asserts", "program": program, "tests": tests, "entry_point": entry_point}
    result = run_in_sandbox(spec, float(time_limit), int(memory_mb))
    return ok(bool(result.get("passed")), program[:EXTRACT_LIMIT], str(result.get("reason", "")))
