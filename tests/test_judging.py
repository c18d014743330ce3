"""The LLM judge stage end to end: a scripted fake OpenAI server (exact counts) and the real local vLLM server."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from experiments import api
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, spec_to_toml
from experiments.stages.grading.spec import GradingSpec
from experiments.stages.judging.spec import JudgingSpec

YES = '{"correct_answer": "A", "model_answer": "A", "reasoning": "same", "correct": "yes"}'
NO = 'Verdict:\n```json\n{"correct_answer": "A", "model_answer": "B", "reasoning": "differs", "correct": "no"}\n```'
GARBAGE = "I am not sure what you mean."
PRICE = [1.0, 2.0]  # $/1M in, out -> one fake answer (100 in, 20 out) costs 140e-6


class FakeJudge:
    """An OpenAI-compatible chat endpoint whose reply depends on the `[Q-name]` marker in the question."""

    def __init__(self, reject_schema: bool = False) -> None:
        self.calls: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.down = True
        self.reject_schema = reject_schema
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, payload = fake.reply(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        marker = re.search(r"\[Q-([a-z0-9]+)\]", body["messages"][1]["content"]).group(1)  # type: ignore[union-attr]
        with self.lock:
            self.calls[marker] += 1
            n = self.calls[marker]
            self.bodies.append(body)
        if self.reject_schema and "response_format" in body:
            return 400, {"error": {"message": "response_format is not supported", "type": "BadRequestError"}}
        script = {"right": YES, "wrong": NO, "flaky": GARBAGE if n <= 2 else YES, "garbage": GARBAGE,
                  "p500": None if n == 1 else NO, "down": None if self.down else YES}
        text = script[marker] if marker in script else script.get(marker.rstrip("0123456789"), YES)
        if text is None:
            return 500, {"error": {"message": "internal error", "type": "InternalServerError"}}
        return 200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_judge() -> Iterator[FakeJudge]:
    server = FakeJudge()
    yield server
    server.close()


@pytest.fixture
def isolated(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No user config (price table) leaks into the workers."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return home


def record(k: int, marker: str, rule: bool | None, question: str = "") -> dict[str, Any]:
    return {"example_id": f"ex-{k:03d}", "sample_idx": 0, "index": k, "domain": "gsm8k", "source": "gsm8k-test",
            "question": question or f"[Q-{marker}] What is {k} + 2?", "prompt": f"What is {k} + 2?",
            "gold": str(k + 2), "context": {}, "model": "small", "response": f"{k} + 2 = {k + 2}\n#### {k + 2}",
            "finish_reason": "stop", "correct": rule, "grade_status": "ok" if rule is not None else "timeout"}


def input_run(home: Path, chunks: list[list[dict[str, Any]]]) -> RunStore:
    store = RunStore.create(spec_to_toml(GradingSpec(input_run="none")), "grading", home)
    for i, rows in enumerate(chunks):
        store.write_chunk(i, rows)
    store.update_manifest(status="done")
    return store


def judging_spec(source: RunStore, base_url: str, model: str = "fake-judge", **kw: Any) -> JudgingSpec:
    options = {"base_url": base_url, "max_retries": 2, "backoff_base": 0.01, "backoff_max": 0.05, "timeout": 30}
    return JudgingSpec(input_run=source.run_id, model=model, prices={model: PRICE}, num_workers=4,
                       backend=BackendSpec(kind="openai_compat", options=options), **kw)


def by_marker(store: RunStore) -> dict[str, dict[str, Any]]:
    return {re.search(r"\[Q-(\w+)\]", r["question"]).group(1): r for r in store.records()}  # type: ignore[union-attr]


def metrics(store: RunStore) -> dict[str, float]:
    out = {}
    for line in store.events_path.read_text().splitlines():
        event = json.loads(line)
        if event.get("type") == "metric":
            out[event["name"]] = event["value"]
    return out


def test_fake_judge_counts_cost_agreement_and_resume(isolated: Path, fake_judge: FakeJudge) -> None:
    source = input_run(isolated, [
        [record(0, "right", True), record(1, "wrong", False), record(2, "flaky", False), record(3, "p500", True),
         record(4, "down", True)],
        [record(5, "garbage", True), record(6, "right2", None), record(7, "right3", True)],
    ])
    run_id = api.launch(judging_spec(source, fake_judge.base_url), isolated)
    assert api.wait(run_id, isolated, timeout=90) == "done"
    store = RunStore.open(run_id, isolated)
    recs = by_marker(store)
    assert len(recs) == 8
    status = {m: r["judge_status"] for m, r in recs.items()}
    assert status == {"right": "ok", "wrong": "ok", "flaky": "ok", "p500": "ok", "down": "error",
                      "garbage": "invalid_json", "right2": "ok", "right3": "ok"}
    assert [recs[m]["judge_correct"] for m in ("right", "wrong", "flaky", "p500", "down", "garbage")] == \
        [True, False, True, False, None, None]
    assert recs["wrong"]["judge_model_answer"] == "B" and recs["wrong"]["judge_reasoning"] == "differs"
    assert recs["garbage"]["judge_raw"] == GARBAGE and recs["garbage"]["judge_attempts"] == 3
    assert "HTTP 500" in recs["down"]["judge_error"]
    assert fake_judge.calls["flaky"] == 3 and fake_judge.calls["garbage"] == 3 and fake_judge.calls["p500"] == 2
    assert fake_judge.calls["down"] == 3  # 1 + max_retries, then recorded as an API error
    # every attempt is paid for: flaky took 3 answers
    assert (recs["flaky"]["judge_prompt_tokens"], recs["flaky"]["judge_completion_tokens"]) == (300, 60)
    assert recs["flaky"]["judge_cost"] == pytest.approx((300 * 1.0 + 60 * 2.0) / 1e6)
    assert recs["right"]["judge_cost"] == pytest.approx(140e-6) and recs["down"]["judge_cost"] == 0
    assert all(r["judge_model"] == "fake-judge" for r in recs.values())
    errors = {(e["item_id"], e["reason"]) for e in store.errors()}
    assert errors == {("ex-005#0", "invalid_verdict"), ("ex-004#0", "judge_api_error")}
    # structured output was asked for (the fake server ignores it)
    assert fake_judge.bodies[0]["response_format"]["json_schema"]["schema"]["properties"]["correct"]["enum"] == \
        ["yes", "no"]
    summary = store.manifest()["summary"]
    assert summary["statuses"] == {"ok": 6, "invalid_json": 1, "error": 1}
    assert summary["usage"]["prompt_tokens"] == 1100 and summary["usage"]["completion_tokens"] == 220
    assert summary["usage"]["cost_usd"] == pytest.approx(1540e-6)
    assert summary["price"]["source"] == "spec"
    agreement = json.loads((store.outputs_dir / "agreement.json").read_text())
    assert {k: agreement[k] for k in ("n", "both_correct", "both_wrong", "judge_only", "rule_only")} == \
        {"n": 5, "both_correct": 2, "both_wrong": 1, "judge_only": 1, "rule_only": 1}
    assert agreement["agreement"] == pytest.approx(0.6)
    assert agreement["kappa"] == pytest.approx((0.6 - 0.52) / 0.48)
    assert (agreement["no_judge_verdict"], agreement["no_rule_verdict"]) == (2, 1)
    assert summary["agreement"]["kappa"] == pytest.approx(agreement["kappa"])
    seen = metrics(store)
    assert seen["judge_retries"] == 4 and seen["judge_invalid"] == 1
    assert seen["judge_prompt_tokens"] == 1100 and seen["judge_cost_usd"] == pytest.approx(1540e-6)
    assert seen["judge_answers_per_s"] > 0

    # resume: chunk 1 is gone and the API error in chunk 0 is retried; nothing else is asked again
    fake_judge.down = False
    store.chunk_path(1).unlink()
    before = Counter(fake_judge.calls)
    api.resume(run_id, isolated)
    assert api.wait(run_id, isolated, timeout=90) == "done"
    asked = {m: fake_judge.calls[m] - before[m] for m in fake_judge.calls}
    assert asked == {"right": 0, "wrong": 0, "flaky": 0, "p500": 0, "down": 1, "garbage": 3, "right2": 1,
                     "right3": 1}
    recs = by_marker(store)
    assert recs["down"]["judge_status"] == "ok" and recs["down"]["judge_correct"] is True
    assert store.manifest()["summary"]["statuses"] == {"ok": 7, "invalid_json": 1}


def test_structured_output_rejected_falls_back(isolated: Path) -> None:
    server = FakeJudge(reject_schema=True)
    try:
        source = input_run(isolated, [[record(0, "right", True), record(1, "wrong", False)]])
        run_id = api.launch(judging_spec(source, server.base_url), isolated)
        assert api.wait(run_id, isolated, timeout=90) == "done"
    finally:
        server.close()
    store = RunStore.open(run_id, isolated)
    recs = by_marker(store)
    assert [recs[m]["judge_correct"] for m in ("right", "wrong")] == [True, False]
    assert all(r["judge_status"] == "ok" and r["judge_attempts"] == 1 for r in recs.values())
    assert [("response_format" in b) for b in server.bodies].count(True) == 2  # one rejected try each
    assert "response_format" not in server.bodies[-1]
    assert store.errors() == []
    assert "structured output" in store.events_path.read_text()


def test_cli_judge_agreement_tag_and_sft_data(isolated: Path, fake_judge: FakeJudge, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from experiments.cli.main import main

    source = input_run(isolated, [[record(0, "right", True), record(1, "wrong", True)],
                                  [record(2, "garbage", False)]])
    assert main(["judge", source.run_id, "--base-url", fake_judge.base_url, "--model", "gpt-4o-mini",
                 "--workers", "2", "--parse-retries", "0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert '"ok": 2' in out and '"invalid_json": 1' in out and "agreement 50.0%" in out
    judged = [s for s in RunStore.list(isolated) if s.manifest()["stage"] == "judging"][0]
    assert judged.manifest()["summary"]["price"]["matched"] == "gpt-4o-mini"  # the default table
    assert judged.records()[0]["judge_cost"] == pytest.approx((100 * 0.15 + 20 * 0.60) / 1e6)
    assert main(["agreement", judged.run_id, "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert (table["both_correct"], table["rule_only"], table["no_judge_verdict"]) == (1, 1, 1)
    assert main(["tag", judged.run_id, "--verdict", "judge", "--style", "pipe", "--quiet"]) == 0
    tagged = [s for s in RunStore.list(isolated) if s.manifest()["stage"] == "tagging"][0]
    assert {r["confidence_token"] for r in tagged.records()} == {"<|c_math|>", "<|u_math|>"}
    assert [e["reason"] for e in tagged.errors()] == ["untaggable_invalid_json"]
    capsys.readouterr()
    assert main(["sft-data", tagged.run_id, "--out", str(tmp_path / "sft.jsonl")]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 2
    assert main(["judge", source.run_id, "--model", "x"]) == 2  # neither --base-url nor --local


# -- the real local vLLM server (embedded SmolLM2-135M) ---------------------------------------------------
@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_accepts_both_structured_formats(vllm_server: Any) -> None:
    from backends.base import GenerationRequest, SamplingParams
    from backends.openai_compat import OpenAICompatGenerator
    from experiments.stages.judging.parse import parse_verdict
    from experiments.stages.judging.prompt import judge_messages, structured_body

    rec = record(0, "right", True)
    for fmt in ("response_format", "structured_outputs"):
        with OpenAICompatGenerator(vllm_server.base_url, vllm_server.model, max_retries=0,
                                   extra_body=structured_body(fmt)) as gen:  # type: ignore[arg-type]
            [result] = list(gen.generate([GenerationRequest("k", messages=judge_messages(rec))],
                                         SamplingParams(max_tokens=200)))
        assert result.finish_reason != "error", (fmt, result.error)
        if result.finish_reason == "stop":  # schema-constrained: whole answers are valid JSON by construction
            assert parse_verdict(result.text).ok, (fmt, result.text)


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_judge_path_usage_cost_and_resume(isolated: Path, vllm_server: Any) -> None:
    source = input_run(isolated, [
        [record(0, "a", True), record(1, "b", False, "[Q-b] What is 1 + 2? Answer with a number.")],
        [record(2, "c", False)],
    ])
    spec = judging_spec(source, vllm_server.base_url, model=vllm_server.model, max_tokens=128, parse_retries=1)
    run_id = api.launch(spec, isolated)
    assert api.wait(run_id, isolated, timeout=240) == "done"
    store = RunStore.open(run_id, isolated)
    records = store.records()
    assert len(records) == 3
    invalid = {f"{r['example_id']}#0" for r in records if r["judge_status"] == "invalid_json"}
    for r in records:
        assert r["judge_status"] in ("ok", "invalid_json"), r
        assert r["judge_prompt_tokens"] > 0 and r["judge_completion_tokens"] > 0
        assert r["judge_cost"] == pytest.approx((r["judge_prompt_tokens"] * PRICE[0]
                                                 + r["judge_completion_tokens"] * PRICE[1]) / 1e6)
        assert (r["judge_correct"] is None) == (r["judge_status"] == "invalid_json")
        assert r["judge_model"] == vllm_server.model
    assert {e["item_id"] for e in store.errors() if e["reason"] == "invalid_verdict"} == invalid
    summary = store.manifest()["summary"]
    assert summary["usage"]["cost_usd"] == pytest.approx(sum(r["judge_cost"] for r in records))
    assert summary["agreement"]["n"] + summary["agreement"]["no_judge_verdict"] == 3
    # resume with one chunk gone: the other is skipped, not recomputed
    kept = store.chunk_path(0).read_text()
    store.chunk_path(1).unlink()
    api.resume(run_id, isolated)
    assert api.wait(run_id, isolated, timeout=240) == "done"
    assert store.chunk_path(0).read_text() == kept and store.chunk_done(1)
    chunk_events = [json.loads(line) for line in store.events_path.read_text().splitlines()
                    if '"chunk"' in line]
    assert any(e.get("index") == 0 and e.get("action") == "skipped" for e in chunk_events)
