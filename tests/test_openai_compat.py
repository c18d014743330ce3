"""OpenAICompatGenerator: retries, backoff and cancellation against tiny local HTTP servers written here;
completions, chat, n, logprobs, concurrency, usage and an outage against the session's real vLLM server."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from backends.base import GenerationRequest, GenerationResult, SamplingParams
from backends.openai_compat import OpenAICompatGenerator
from backends.retry import RetryPolicy, classify, parse_retry_after

# -- a scripted fake OpenAI server ---------------------------------------------------------------------------


class FakeAPI:
    """Answers /v1/completions and /v1/chat/completions; `plan`: (status, headers, delay) played first."""

    def __init__(
        self, plan: list[tuple[int, dict[str, str], float]] | None = None, delay: float = 0.0
    ) -> None:
        self.plan = list(plan or [])
        self.delay = delay
        self.calls = 0
        self.bodies: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with api.lock:
                    api.calls += 1
                    api.bodies.append(body)
                    api.auth.append(self.headers.get("Authorization"))
                    step = api.plan.pop(0) if api.plan else (200, {}, api.delay)
                    api.active += 1
                    api.max_active = max(api.max_active, api.active)
                try:
                    status, headers, delay = step
                    time.sleep(delay)
                    if status == 200:
                        payload = api.ok_payload(self.path, body)
                    else:
                        payload = {"error": {"message": f"scripted {status}", "type": "test", "code": status}}
                    data = json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with api.lock:
                        api.active -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @staticmethod
    def ok_payload(path: str, body: dict[str, Any]) -> dict[str, Any]:
        n = int(body.get("n") or 1)
        usage = {"prompt_tokens": 5, "completion_tokens": 2 * n, "total_tokens": 5 + 2 * n}
        if path.endswith("/chat/completions"):
            choices = [
                {"index": i, "message": {"role": "assistant", "content": f"ok{i}"}, "finish_reason": "stop"}
                for i in range(n)
            ]
            return {"id": "c", "object": "chat.completion", "created": 0, "model": body.get("model"),
                    "choices": choices, "usage": usage}
        choices = [
            {"index": i, "text": f"ok{i}", "finish_reason": "length", "logprobs": None} for i in range(n)
        ]
        return {"id": "c", "object": "text_completion", "created": 0, "model": body.get("model"),
                "choices": choices, "usage": usage}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeAPI]:
    api = FakeAPI()
    yield api
    api.close()


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "openai-compat-loop" and t.is_alive()]


def prompts(n: int, prefix: str = "p") -> list[GenerationRequest]:
    return [GenerationRequest(key=f"{prefix}{i}", prompt=f"Question {i}: the sky is") for i in range(n)]


def fast_gen(base_url: str, **kw: Any) -> OpenAICompatGenerator:
    kw.setdefault("mode", "completions")
    kw.setdefault("backoff_base", 0.05)
    kw.setdefault("backoff_max", 0.2)
    return OpenAICompatGenerator(base_url, "m", **kw)


# -- retry policy units --------------------------------------------------------------------------------------


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "0.1"}) == pytest.approx(0.1)
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    now = time.time()
    in_30s = formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": in_30s}, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after({"Retry-After": formatdate(now - 30, usegmt=True)}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


def test_full_jitter_backoff_bounds() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0)
    rng = random.Random(0)
    for attempt in range(10):
        cap = min(4.0, 0.5 * 2**attempt)
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # full jitter spreads over the whole range
    assert policy.delay(3, retry_after=1.5) == 1.5
    assert policy.delay(0, retry_after=10_000) == policy.retry_after_max


def test_classify() -> None:
    class StatusError(Exception):
        def __init__(self, status: int) -> None:
            super().__init__("x")
            self.status_code = status
            self.response = type("R", (), {"headers": {"Retry-After": "2"}})()

    assert classify(StatusError(429))[:2] == (True, 2.0)
    assert classify(StatusError(503))[0] and classify(StatusError(408))[0] and classify(StatusError(409))[0]
    assert not classify(StatusError(400))[0] and not classify(StatusError(404))[0]
    assert classify(TimeoutError())[0] and classify(ConnectionRefusedError())[0]
    assert not classify(ValueError("bad"))[0]


# -- against the fake server ---------------------------------------------------------------------------------


def test_429_with_retry_after_then_ok() -> None:
    api = FakeAPI(plan=[(429, {"Retry-After": "0.1"}, 0), (429, {"Retry-After": "0.1"}, 0)])
    gen = fast_gen(api.base_url, backoff_base=5, backoff_max=5)  # only Retry-After can make this fast
    try:
        t0 = time.monotonic()
        [r] = list(gen.generate(prompts(1), SamplingParams(max_tokens=4)))
        elapsed = time.monotonic() - t0
        assert r.finish_reason == "length" and r.text == "ok0" and r.error is None
        assert api.calls == 3 and 0.2 <= elapsed < 3
        expected = {"requests": 1, "prompt_tokens": 5, "completion_tokens": 2, "retries": 2, "errors": 0}
        assert gen.usage == expected
    finally:
        gen.close()
        api.close()


def test_500_then_ok_and_always_500() -> None:
    api = FakeAPI(plan=[(500, {}, 0)])
    gen = fast_gen(api.base_url, max_retries=3)
    try:
        [r] = list(gen.generate(prompts(1), SamplingParams()))
        assert r.finish_reason == "length" and api.calls == 2 and gen.usage["retries"] == 1
        api.plan = [(500, {}, 0)] * 10
        calls = api.calls
        [bad] = list(gen.generate(prompts(1, "bad"), SamplingParams()))
        assert bad.finish_reason == "error" and bad.error is not None
        assert "HTTP 500" in bad.error and "gave up" in bad.error
        assert api.calls - calls == 4  # 1 try + max_retries
        usage = gen.usage
        assert usage["errors"] == 1 and usage["retries"] == 1 + 3 and usage["requests"] == 1
    finally:
        gen.close()
        api.close()


def test_client_errors_are_not_retried_and_do_not_stop_the_batch() -> None:
    api = FakeAPI(plan=[(400, {}, 0)])
    gen = fast_gen(api.base_url, concurrency=1)
    try:
        results = list(gen.generate(prompts(3), SamplingParams(n=2)))
        errors = [r for r in results if r.finish_reason == "error"]
        assert len(results) == 6 and len(errors) == 2  # one request failed: both of its samples are errors
        assert {r.sample_idx for r in errors} == {0, 1} and "HTTP 400" in (errors[0].error or "")
        assert api.calls == 3 and gen.usage["retries"] == 0 and gen.usage["errors"] == 1
    finally:
        gen.close()
        api.close()


def test_timeout_is_retried_then_reported() -> None:
    # The first request warms the client (its first call imports and builds the request types), so each timed
    # attempt below is only the request itself; on CI's loaded two-core machine a cold first attempt could use up
    # a short timeout before sending anything.
    api = FakeAPI(plan=[(200, {}, 0.0)] + [(200, {}, 8.0)] * 5)
    gen = fast_gen(api.base_url, timeout=1.0, max_retries=1)
    try:
        [warm] = list(gen.generate(prompts(1, "warm"), SamplingParams()))
        assert warm.error is None and api.calls == 1
        t0 = time.monotonic()
        [r] = list(gen.generate(prompts(1), SamplingParams()))
        elapsed = time.monotonic() - t0
        assert r.finish_reason == "error" and "timeout" in (r.error or "").lower()
        assert gen.usage["retries"] == 1 and elapsed < 8.0  # two attempts given up, neither answer waited for
        deadline = time.monotonic() + 5.0  # the server's handler thread may count the retry a moment later
        while api.calls < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert api.calls == 3  # the warm-up, the try and the retry
    finally:
        gen.close()
        api.close()


def test_connection_refused_gives_error_after_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gen = fast_gen(f"http://127.0.0.1:{port}/v1", max_retries=2)
    try:
        [r] = list(gen.generate(prompts(1), SamplingParams()))
        assert r.finish_reason == "error" and "connection" in (r.error or "").lower()
        assert gen.usage["retries"] == 2 and gen.usage["errors"] == 1
    finally:
        gen.close()


def test_concurrency_is_bounded(fake: FakeAPI) -> None:
    fake.delay = 0.15
    gen = fast_gen(fake.base_url, concurrency=4)
    try:
        results = list(gen.generate(prompts(16), SamplingParams()))
        assert sorted(r.key for r in results) == sorted(f"p{i}" for i in range(16))
        assert fake.max_active == 4
    finally:
        gen.close()


def test_requests_are_pulled_lazily_and_results_stream(fake: FakeAPI) -> None:
    fake.delay = 0.05
    pulled: list[int] = []

    def lazy() -> Iterator[GenerationRequest]:
        for i in range(50):
            pulled.append(i)
            yield GenerationRequest(key=i, prompt="x")

    gen = fast_gen(fake.base_url, concurrency=2)
    try:
        it = gen.generate(lazy(), SamplingParams())
        next(it)
        assert len(pulled) <= 2 * 2 + 1  # the window is 2 * concurrency
        assert len(list(it)) == 49
    finally:
        gen.close()


def test_early_close_cancels_in_flight_promptly(fake: FakeAPI) -> None:
    before = len(loop_threads())
    fake.plan = [(200, {}, 0.0)] + [(200, {}, 5.0)] * 20
    gen = fast_gen(fake.base_url, concurrency=4)
    it = gen.generate(prompts(20), SamplingParams())
    first = next(it)
    assert first.error is None
    t0 = time.monotonic()
    it.close()  # 4 requests are mid-flight on a server that answers in 5 s
    assert time.monotonic() - t0 < 2.0
    assert not gen._tasks  # nothing left running on the loop
    gen.close()
    assert len(loop_threads()) == before  # and no thread left behind


def test_api_key_from_env_is_sent_but_never_described(fake: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_TEST_KEY", "sk-secret-123")
    gen = OpenAICompatGenerator(fake.base_url, "m", api_key_env="CC_TEST_KEY", mode="chat")
    try:
        chat = GenerationRequest("c", messages=({"role": "user", "content": "hi"},))
        params = SamplingParams(n=3, temperature=1.0, ignore_eos=True, stop=("\n",))
        results = list(gen.generate([chat], params))
        assert sorted(r.sample_idx for r in results) == [0, 1, 2]
        assert fake.auth == ["Bearer sk-secret-123"]
        body = fake.bodies[0]
        assert body["ignore_eos"] is True and body["n"] == 3 and body["stop"] == ["\n"] and "seed" in body
        assert "sk-secret" not in json.dumps(gen.describe()) and "sk-secret" not in repr(vars(gen))
    finally:
        gen.close()
    monkeypatch.delenv("CC_TEST_KEY")
    gen2 = OpenAICompatGenerator(fake.base_url, "m", api_key_env="CC_TEST_KEY")
    try:
        list(gen2.generate([GenerationRequest("c", prompt="hi")], SamplingParams()))
        assert fake.auth[-1] == "Bearer EMPTY"
    finally:
        gen2.close()


async def test_agenerate(fake: FakeAPI) -> None:
    gen = fast_gen(fake.base_url)
    try:
        keys = [r.key async for r in gen.agenerate(prompts(5), SamplingParams())]
        assert sorted(keys) == sorted(f"p{i}" for i in range(5))
    finally:
        gen.close()


# -- against the real vLLM server ----------------------------------------------------------------------------


def by_key(results: list[GenerationResult]) -> dict[Any, list[GenerationResult]]:
    out: dict[Any, list[GenerationResult]] = {}
    for r in results:
        out.setdefault(r.key, []).append(r)
    return out


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_completions_and_usage(vllm_server) -> None:
    gen = OpenAICompatGenerator(vllm_server.base_url, vllm_server.model, mode="completions", concurrency=4)
    try:
        results = list(gen.generate(prompts(8), SamplingParams(max_tokens=8, logprobs=2)))
        groups = by_key(results)
        assert set(groups) == {f"p{i}" for i in range(8)}
        for [r] in groups.values():
            assert r.finish_reason in ("stop", "length") and r.error is None and r.text
            assert r.prompt_tokens > 0 and 0 < r.completion_tokens <= 8
            assert r.logprobs is not None and len(r.logprobs) == r.completion_tokens
            assert all(lp.logprob <= 0 and 1 <= len(lp.top) <= 2 for lp in r.logprobs)
        usage = gen.usage
        assert usage["requests"] == 8 and usage["errors"] == 0 and usage["retries"] == 0
        assert usage["prompt_tokens"] == sum(r.prompt_tokens for r in results)
        assert usage["completion_tokens"] == sum(r.completion_tokens for r in results)
        # greedy is deterministic across calls
        again = by_key(list(gen.generate(prompts(2), SamplingParams(max_tokens=8))))
        assert again["p0"][0].text == groups["p0"][0].text
    finally:
        gen.close()


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_chat_n_samples_with_logprobs(vllm_server) -> None:
    gen = OpenAICompatGenerator(vllm_server.base_url, vllm_server.model, mode="chat")
    try:
        reqs = [GenerationRequest(k, messages=({"role": "user", "content": q},))
                for k, q in (("a", "Name a fruit."), ("b", "What is 2+2?"))]
        params = SamplingParams(n=3, temperature=1.0, max_tokens=6, logprobs=1, ignore_eos=True, seed=11)
        groups = by_key(list(gen.generate(reqs, params)))
        assert set(groups) == {"a", "b"}
        for rs in groups.values():
            assert sorted(r.sample_idx for r in rs) == [0, 1, 2]
            for r in rs:
                assert r.finish_reason == "length" and r.completion_tokens == 6 and r.prompt_tokens > 0
                assert r.logprobs is not None and len(r.logprobs) == 6
                assert all(len(lp.top) == 1 for lp in r.logprobs)
        again = by_key(list(gen.generate(reqs[:1], params)))  # seeded per request key: reproducible
        assert sorted(r.text for r in again["a"]) == sorted(r.text for r in groups["a"])
    finally:
        gen.close()


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_cancel_mid_run(vllm_server) -> None:
    before = len(loop_threads())
    gen = OpenAICompatGenerator(vllm_server.base_url, vllm_server.model, mode="completions", concurrency=4)
    it = gen.generate(prompts(16), SamplingParams(max_tokens=24, ignore_eos=True))
    next(it)
    t0 = time.monotonic()
    it.close()
    assert time.monotonic() - t0 < 3.0 and not gen._tasks
    gen.close()
    assert len(loop_threads()) == before
    # the server is fine afterwards
    with OpenAICompatGenerator(vllm_server.base_url, vllm_server.model, mode="completions") as g2:
        [r] = list(g2.generate(prompts(1), SamplingParams(max_tokens=2)))
        assert r.error is None


class FlakyProxy:
    """TCP proxy in front of the real server that can go down (refusing connections and cutting the open
    ones, like a server restart) and come back on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = 0
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        self.port = s.getsockname()[1]
        s.listen(64)
        self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def down(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_outage_mid_run_loses_nothing(vllm_server) -> None:
    """The server 'restarts' (connections cut and refused for 3 s) mid-run; every request still completes.

    A real restart takes about a minute here, so the outage is simulated by a proxy in front of the server."""
    proxy = FlakyProxy(vllm_server.port)
    gen = OpenAICompatGenerator(
        f"http://127.0.0.1:{proxy.port}/v1", vllm_server.model, mode="completions", concurrency=4,
        backoff_base=0.2, backoff_max=1.0, max_retries=20, timeout=60,
    )
    try:
        results: list[GenerationResult] = []
        outage: threading.Timer | None = None
        for r in gen.generate(prompts(16), SamplingParams(max_tokens=16, ignore_eos=True)):
            results.append(r)
            if len(results) == 3:
                proxy.down()
                outage = threading.Timer(3.0, proxy.up)
                outage.start()
        if outage is not None:
            outage.join()
        assert sorted(r.key for r in results) == sorted(f"p{i}" for i in range(16))
        assert all(r.error is None and r.completion_tokens == 16 for r in results)
        assert gen.usage["retries"] > 0 and gen.usage["errors"] == 0
    finally:
        gen.close()
        proxy.down()
