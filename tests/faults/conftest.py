"""Fixtures of the fault suite: one data home and one scripted answer run shared by the stage tests, so each
test pays only for its own reference run and the run it kills."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.datasets.base import DatasetSpec
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, SamplingSpec
from experiments.stages.inference.spec import InferenceSpec
from tests.chat_server import ChatServer
from tests.faults.killer import ROWS, reference_run
from tests.faults.scripted import arith_reply, judge_reply


@pytest.fixture(scope="session")
def fault_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults-home")


@pytest.fixture(scope="session")
def answer_server():  # noqa: ANN201
    server = ChatServer(delay=0.03, reply=arith_reply)
    yield server
    server.close()


@pytest.fixture(scope="session")
def judge_server():  # noqa: ANN201
    server = ChatServer(delay=0.02, reply=judge_reply)
    yield server
    server.close()


def scripted_inference(server: ChatServer, limit: int = 8) -> InferenceSpec:
    """8 arith questions answered by the scripted server, one example per chunk, one chunk in flight."""
    return InferenceSpec(dataset=DatasetSpec(source="arith", limit=limit), model="scripted", chunk_size=1,
                         max_chunks_in_flight=1, sampling=SamplingSpec(max_tokens=8),
                         backend=BackendSpec(kind="openai_compat", options={"base_url": server.base_url,
                                                                             "concurrency": 1}))


@pytest.fixture(scope="session")
def answers(fault_home: Path, answer_server: ChatServer) -> RunStore:
    """An uninterrupted scripted inference run: the inference test's reference, the grading and judging input."""
    return reference_run(scripted_inference(answer_server), fault_home)


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    """The fault table (stage, faults injected, resumes, records compared, records lost) after a run."""
    if not ROWS:
        return
    terminalreporter.write_sep("-", "fault suite")
    terminalreporter.write_line(f"{'stage':<12}{'faults':>8}{'resumes':>9}{'compared':>10}{'lost':>6}  notes")
    for row in ROWS:
        notes = {k: v for k, v in row.items() if k not in ("stage", "faults", "resumes", "compared", "lost")}
        terminalreporter.write_line(f"{row['stage']:<12}{row['faults']:>8}{row['resumes']:>9}{row['compared']:>10}"
                                    f"{row['lost']:>6}  {notes}")
