"""Delegation asking the big model through a real engine: a small scripted OpenAI-compatible server on 127.0.0.1
(exact answers, usage and costs) and the session's real vLLM server (slow)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from experiments import api
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, SamplingSpec
from experiments.stages.delegation.spec import DelegationSpec
from experiments.stages.evaluation.spec import EvaluationSpec
from tests.calibration_fixtures import reference_records, write_run


class OracleServer:
    """/v1/chat/completions: right for even question numbers, wrong for odd ones; 20 prompt + 10 completion
    tokens per answer. Counts the questions it was asked."""

    def __init__(self) -> None:
        self.asked: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                number, gold = map(int, re.search(r"Q(\d+): what is (\d+)", body["messages"][-1]["content"]).groups())
                server.asked.append(number)
                text = f"The answer is {gold if number % 2 == 0 else gold + 5}."
                data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                   "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                "finish_reason": "stop"}],
                                   "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def oracle_server() -> Iterator[OracleServer]:
    server = OracleServer()
    yield server
    server.close()


def small_eval_run(home: Path, picks: list[int]) -> RunStore:
    """An evaluation run of some of the reference's answers (confident < 345, uncertain < 488, missing after)."""
    small, _ = reference_records()
    return write_run(home, "evaluation-20260101-000000-sub0", "evaluation", EvaluationSpec(),
                     [small[i] for i in picks], chunk_size=3)


def test_asks_a_real_http_server_reuses_and_prices(home: Path, oracle_server: OracleServer) -> None:
    # confident 0 (right), 300 (wrong); uncertain 346 (right), 400 (wrong); missing 490, 491
    evaluation = small_eval_run(home, [0, 300, 346, 400, 490, 491])
    _, big = reference_records(graded=True)
    oracle = write_run(home, "grading-20260101-000000-big1", "grading", EvaluationSpec(),
                       [r for r in big if r["example_id"] == "math-test-000490"])
    spec = DelegationSpec(input_run=evaluation.run_id, oracle_run=oracle.run_id, oracle_model="big",
                          oracle_backend=BackendSpec(kind="openai_compat",
                                                     options={"base_url": oracle_server.base_url,
                                                              "api_key_env": "NO_KEY_NEEDED"}),
                          prices={"big": [1.0, 2.0]}, small_model="small", budget=1.0)
    run_id = api.launch(spec, home)
    assert api.wait(run_id, home, timeout=120) == "done", RunStore.open(run_id, home).log_path.read_text()[-2000:]
    store = RunStore.open(run_id, home)
    # scope "all": every question but the one the big model's earlier run answered, each asked once
    assert sorted(oracle_server.asked) == [0, 300, 346, 400, 491]
    records = {int(r["example_id"][-6:]): r for r in store.records()}
    assert records[490]["oracle_source"] == "reused" and records[491]["oracle_source"] == "asked"
    # the server is right on even numbers; the earlier run was wrong on 490 (graded there, not again here)
    assert {i: r["oracle_correct"] for i, r in records.items()} == {0: True, 300: True, 346: True, 400: True,
                                                                    490: False, 491: False}
    summary = store.manifest()["summary"]
    big_row, small_row, overall = summary["handoff"]
    # delegated: 346, 400 (uncertain), 490, 491 (missing) -> big right on 2; kept 0 (right), 300 (wrong)
    assert (big_row["correct"], big_row["total"], small_row["correct"], small_row["total"]) == (2, 4, 1, 2)
    assert (overall["correct"], overall["total"]) == (3, 6)
    # three asked answers (20 in, 10 out at $1/$2 per 1M) and the reused one (793 out)
    assert big_row["cost"] == pytest.approx(3 * (20 * 1.0 + 10 * 2.0) / 1e6 + 793 * 2.0 / 1e6)
    assert small_row["cost"] == 0.0  # no price known for "small": counted as $0, and the report says so
    assert summary["prices"]["small"]["source"] == "unknown"
    rows = {r["system"]: r for r in summary["performance"]}
    assert rows["big model alone (big)"]["accuracy"] == pytest.approx(4 / 6)  # asked everything: known
    # sweep order: missing 490, 491, then P .20 (400), .21 (346), .84 (300), .90 (0); best 4/6 first at k = 5
    assert (summary["chosen"]["k"], summary["chosen"]["accuracy"]) == (5, pytest.approx(4 / 6))


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.timeout(900)
def test_asks_the_local_vllm_server(home: Path, vllm_server: Any) -> None:
    evaluation = small_eval_run(home, [0, 350, 495])
    spec = DelegationSpec(input_run=evaluation.run_id, oracle_model=vllm_server.model, scope="delegated",
                          oracle_backend=BackendSpec(kind="openai_compat", options={"base_url": vllm_server.base_url}),
                          oracle_sampling=SamplingSpec(max_tokens=16), prices={vllm_server.model: [1.0, 1.0]})
    run_id = api.launch(spec, home)
    assert api.wait(run_id, home, timeout=240) == "done", RunStore.open(run_id, home).log_path.read_text()[-2000:]
    records = {r["example_id"]: r for r in RunStore.open(run_id, home).records()}
    asked = [r for r in records.values() if r["oracle_source"] == "asked"]
    assert sorted(r["example_id"] for r in asked) == ["math-test-000350", "math-test-000495"]
    for r in asked:
        assert r["oracle_response"] and r["oracle_prompt_tokens"] > 0 and r["oracle_completion_tokens"] > 0
        assert isinstance(r["oracle_correct"], bool)
    assert records["math-test-000000"]["oracle_source"] is None  # confident: kept, never asked
    big_row = RunStore.open(run_id, home).manifest()["summary"]["handoff"][0]
    assert big_row["total"] == 2 and big_row["cost"] == pytest.approx(
        sum(r["oracle_prompt_tokens"] + r["oracle_completion_tokens"] for r in asked) / 1e6)
