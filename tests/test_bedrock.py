"""BedrockGenerator with a real boto3 client against a local server that speaks the Converse REST shape.

moto (5.2) mocks only `invoke_model` of bedrock-runtime, not `converse`, so the test serves
`POST /model/{modelId}/converse` itself on 127.0.0.1: it checks the request like Bedrock does (roles alternate,
a prefilled assistant message must not end in whitespace), continues a fixed sentence after a prefill word by
word (one word = one token), answers judge prompts (they name `correct_answer`) with a JSON verdict, and plays
scripted errors first.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

pytest.importorskip("boto3")  # the `bedrock` extra

from backends.base import GenerationRequest, SamplingParams
from backends.bedrock import BedrockGenerator, to_converse
from backends.registry import make_generator

SENTENCE = "The quick brown fox jumps over the lazy dog."
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
KEY_ID, SECRET = "AKIATESTBEDROCK00001", "bedrock-test-secret-value-Zq9"
VERDICT = {"correct_answer": "2", "model_answer": "2", "reasoning": "same number", "correct": "yes"}


def words(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text)


class FakeConverse:
    """A Converse endpoint; `plan` holds (status, error code) replies played before normal answers."""

    def __init__(self, delay: float = 0.0) -> None:
        self.plan: list[tuple[int, str]] = []
        self.delay = delay
        self.calls: list[dict[str, Any]] = []
        self.models: list[str] = []
        self.auth: list[str] = []
        self.active = self.max_active = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                match = re.fullmatch(r"/model/(.+)/converse", self.path)
                with fake.lock:
                    fake.calls.append(body)
                    fake.models.append(unquote(match.group(1)) if match else self.path)
                    fake.auth.append(self.headers.get("Authorization", ""))
                    step = fake.plan.pop(0) if fake.plan else None
                    fake.active += 1
                    fake.max_active = max(fake.max_active, fake.active)
                try:
                    time.sleep(fake.delay)
                    status, payload, code = (step[0], {"message": f"scripted {step[1]}"}, step[1]) if step \
                        else fake.answer(body)
                finally:
                    with fake.lock:
                        fake.active -= 1
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if code:
                    self.send_header("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/coral/")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        messages = body["messages"]
        roles = [m["role"] for m in messages]
        if roles[0] != "user" or any(a == b for a, b in zip(roles, roles[1:], strict=False)):
            return 400, {"message": "roles must alternate, starting with user"}, "ValidationException"
        last = "".join(block["text"] for block in messages[-1]["content"])
        budget = body["inferenceConfig"]["maxTokens"]
        if roles[-1] == "assistant":
            if last != last.rstrip():
                return 400, {"message": "final assistant content cannot end with trailing whitespace"}, \
                    "ValidationException"
            rest = words(SENTENCE[len(last):]) if SENTENCE.startswith(last) else [" (unknown prefix)"]
            reply, reason = "".join(rest[:budget]), "max_tokens" if len(rest) > budget else "end_turn"
        elif "correct_answer" in json.dumps(body):  # the judge prompt asks for that field
            reply, reason = json.dumps(VERDICT), "end_turn"
        else:
            reply, reason = f"echo {len(words(last))} words", "end_turn"
        prompt = " ".join(b["text"] for m in body.get("system", []) + messages for b in m.get("content", [m]))
        usage = {"inputTokens": len(words(prompt)), "outputTokens": len(words(reply))}
        usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
        output = {"message": {"role": "assistant", "content": [{"text": reply}]}}
        return 200, {"output": output, "stopReason": reason, "usage": usage, "metrics": {"latencyMs": 1}}, ""

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def aws_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Credentials only through the environment; no user AWS files, no instance metadata lookups."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    return tmp_path


@pytest.fixture
def fake() -> Iterator[FakeConverse]:
    server = FakeConverse()
    yield server
    server.close()


def generator(fake: FakeConverse, **kw: Any) -> BedrockGenerator:
    options = {"endpoint_url": fake.url, "backoff_base": 0.01, "backoff_max": 0.02, **kw}
    return make_generator("bedrock", MODEL, **options)  # type: ignore[return-value]


def test_to_converse_moves_system_out_and_merges_turns():
    system, messages = to_converse([{"role": "system", "content": "be brief"}, {"role": "user", "content": "a"},
                                    {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}])
    assert system == [{"text": "be brief"}]
    assert messages == [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]},
                        {"role": "assistant", "content": [{"text": "c"}]}]


def test_generate_chat_prompt_and_n_with_usage_signed_by_the_default_chain(aws_env, fake):
    requests = [GenerationRequest("chat", messages=({"role": "system", "content": "Be short."},
                                                    {"role": "user", "content": "one two three"})),
                GenerationRequest("raw", prompt="four five")]
    with generator(fake) as gen:
        results = sorted(gen.generate(requests, SamplingParams(n=2, max_tokens=7, temperature=0.5)),
                         key=lambda r: (r.key, r.sample_idx))
        usage = gen.usage
    assert [(r.key, r.sample_idx, r.text, r.finish_reason) for r in results] == [
        ("chat", 0, "echo 3 words", "stop"), ("chat", 1, "echo 3 words", "stop"),
        ("raw", 0, "echo 2 words", "stop"), ("raw", 1, "echo 2 words", "stop")]
    assert [(r.prompt_tokens, r.completion_tokens) for r in results] == [(5, 3), (5, 3), (2, 3), (2, 3)]
    assert usage == {"requests": 4, "prompt_tokens": 14, "completion_tokens": 12, "retries": 0, "errors": 0}
    assert set(fake.models) == {MODEL}
    chat = next(c for c in fake.calls if c.get("system"))
    assert chat["system"] == [{"text": "Be short."}]
    assert chat["inferenceConfig"] == {"maxTokens": 7, "temperature": 0.5}  # topP only when set below 1
    assert all(f"Credential={KEY_ID}/" in a and "/us-west-2/bedrock/aws4_request" in a for a in fake.auth)


def test_continuation_through_a_prefilled_assistant_message(aws_env, fake):
    question = [{"role": "user", "content": "Say the pangram."}]
    with generator(fake, concurrency=3) as gen:
        out = gen.continue_text(question, "The quick brown", 3)
        assert (out.text, out.finish_reason, out.output_tokens) == (" fox jumps over", "length", 3)
        spaced = gen.continue_text(question, "The quick brown ", 3)  # sent stripped (Bedrock refuses it)
        assert "The quick brown " + spaced.text == "The quick brown fox jumps over"
        end = gen.continue_text(question, "The quick brown fox jumps over the lazy", 10)
        assert (end.text, end.finish_reason) == (" dog.", "stop")
        prefixes = ["The", "The quick", "The quick brown fox", "The quick brown fox jumps over the"]
        batch = gen.continue_batch([(question, p) for p in prefixes], 2)
    assert [p + c.text for p, c in zip(prefixes, batch, strict=True)] == [
        "The quick brown", "The quick brown fox", "The quick brown fox jumps over", "The quick brown fox jumps "
        "over the lazy dog."]
    assert fake.calls[0]["messages"][-1] == {"role": "assistant", "content": [{"text": "The quick brown"}]}

    with generator(fake) as gen:  # a request ending in an assistant message is a continuation too
        [result] = gen.generate([GenerationRequest("p", messages=(*question, {"role": "assistant",
                                                                             "content": "The quick brown fox "}))],
                                SamplingParams(max_tokens=5))
    assert (result.text, result.finish_reason) == ("jumps over the lazy dog.", "stop")
    assert fake.calls[1]["messages"][-1]["content"][0]["text"] == "The quick brown"


def test_throttling_and_unavailable_are_retried_bad_requests_are_not(aws_env, fake):
    fake.plan = [(429, "ThrottlingException"), (503, "ServiceUnavailableException")]
    with generator(fake, max_retries=3) as gen:
        [result] = list(gen.generate([GenerationRequest("a", prompt="x y")], SamplingParams()))
        assert (result.text, result.finish_reason) == ("echo 2 words", "stop")
        assert gen.usage["retries"] == 2 and len(fake.calls) == 3

        fake.plan = [(400, "ValidationException")]
        [bad] = list(gen.generate([GenerationRequest("b", prompt="x")], SamplingParams()))
        assert bad.finish_reason == "error" and "HTTP 400 ValidationException" in (bad.error or "")
        assert len(fake.calls) == 4  # not retried

        fake.plan = [(429, "ThrottlingException")] * 4
        cont = gen.continue_text([{"role": "user", "content": "q"}], "The", 2)
        assert cont.finish_reason == "error" and "gave up after 4 attempts" in (cont.error or "")
        assert "ThrottlingException" in (cont.error or "") and gen.usage["errors"] == 2


def test_concurrency_is_bounded(aws_env):
    slow = FakeConverse(delay=0.15)
    try:
        with generator(slow, concurrency=3) as gen:
            requests = (GenerationRequest(i, prompt=f"p {i}") for i in range(9))
            results = list(gen.generate(requests, SamplingParams()))
        assert sorted(r.key for r in results) == list(range(9))
        assert slow.max_active == 3
    finally:
        slow.close()


def test_profile_credentials_and_describe_without_secrets(aws_env, fake, monkeypatch):
    (aws_env / "aws-credentials").write_text(
        "[judge]\naws_access_key_id = AKIAPROFILEKEY000001\naws_secret_access_key = profile-secret-XYZ\n")
    (aws_env / "aws-config").write_text("[profile judge]\nregion = eu-central-1\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    with generator(fake, profile="judge") as gen:
        assert gen.continue_text([{"role": "user", "content": "q"}], "The quick", 1).text == " brown"
        described = json.dumps(gen.describe())
    assert "Credential=AKIAPROFILEKEY000001/" in fake.auth[-1] and "/eu-central-1/" in fake.auth[-1]
    assert gen.describe()["region"] == "eu-central-1" and gen.describe()["profile"] == "judge"
    assert "AKIAPROFILEKEY000001" not in described and "profile-secret-XYZ" not in described


@pytest.mark.slow
def test_judging_run_on_bedrock_keeps_credentials_out_of_run_files(aws_env, fake, tmp_path):
    from experiments import api
    from experiments.runs.store import RunStore
    from experiments.specs import BackendSpec, spec_to_toml
    from experiments.stages.grading.spec import GradingSpec
    from experiments.stages.judging.spec import JudgingSpec

    home = tmp_path / "home"
    source = RunStore.create(spec_to_toml(GradingSpec(input_run="none")), "grading", home)
    source.write_chunk(0, [{"example_id": f"ex-{k}", "sample_idx": 0, "index": k, "domain": "gsm8k",
                            "question": f"What is {k} + 2?", "prompt": f"What is {k} + 2?", "gold": "2",
                            "model": "small", "response": "#### 2", "correct": True} for k in range(3)])
    source.update_manifest(status="done")
    backend = BackendSpec(kind="bedrock", options={"endpoint_url": fake.url, "region": "us-west-2"})
    spec = JudgingSpec(input_run=source.run_id, model=MODEL, backend=backend, structured_output=False,
                       prices={MODEL: [0.25, 1.25]})
    run_id = api.launch(spec, home)
    assert api.wait(run_id, home, timeout=120) == "done"
    store = RunStore.open(run_id, home)
    records = store.records()
    assert [r["judge_correct"] for r in records] == [True] * 3 and records[0]["judge_model_answer"] == "2"
    assert store.manifest()["backend"]["backend"] == "bedrock"
    for path in store.dir.rglob("*"):
        if path.is_file():
            content = path.read_text(errors="replace")
            assert SECRET not in content and KEY_ID not in content, path
