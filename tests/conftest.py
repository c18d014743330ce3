"""Shared fixtures: an isolated data home per test, the embedded model converted once per session."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest_plugins = [p for p in ("tests.conftest_vllm",) if importlib.util.find_spec(p) is not None]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh CONFCONSOLE_HOME: runs never leak between tests or into the user's data dir."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("CONFCONSOLE_HOME", str(path))
    return path


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
