"""Shared fixtures: an isolated data home per test, the embedded model converted once per session."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest

pytest_plugins = [p for p in ("tests.conftest_vllm",) if importlib.util.find_spec(p) is not None]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under `pytest -n 2` two workers share the cores: one torch thread each (and in the processes they start),
    # not two spinning threads per worker fighting over two cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups for `pytest -n 2 --dist loadgroup` (the README's test command): every test that starts or uses a
    vLLM engine runs on one worker (one shared server, never two engines' memory at once); the others run file by
    file, so a module's fixtures (a loaded model, a trained adapter, a Ray cluster) are built once."""
    for item in items:
        uses_vllm = item.get_closest_marker("vllm") is not None or "vllm_server" in getattr(item, "fixturenames", ())
        group = "vllm" if uses_vllm else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh CONFCONSOLE_HOME: runs never leak between tests or into the user's data dir."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("CONFCONSOLE_HOME", str(path))
    return path


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Local time is UTC (snapshots print creation times)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="session")
def embedded_model() -> str:
    """The converted HF folder of the embedded model (converted once, ~20 s, on a fresh machine)."""
    from backends.embedded import ensure_embedded

    return str(ensure_embedded())


@pytest.fixture(scope="module")
def one_torch_thread():  # noqa: ANN201
    """Tiny models on a shared 2-core box: one intra-op thread is several times faster than two spinning."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
