"""AWS Bedrock backend over boto3's `bedrock-runtime` Converse API: a judge, or the oracle of guided decoding.

`generate(requests, params)` sends each request (chat messages, or a raw prompt as one user message) to
`converse`, `params.n` calls per request, at most `concurrency` at once from a thread pool, and yields results
as they finish. Usage comes from the response's `usage` (inputTokens/outputTokens). Converse has no logprobs,
seeds or `n`: `params.logprobs`/`seed`/`ignore_eos` are not sent.

Continuation (guided decoding's oracle): `continue_text(messages, prefix, max_tokens)` sends the messages plus a
prefilled assistant message holding the text so far, and returns only the continuation. `continue_batch`
does the same for many sequences in flight together. Converse refuses a final assistant message that ends
in whitespace on some models, so the prefix is sent right-stripped and the stripped whitespace is removed from
the front of the reply: `prefix + continuation` reads as the model's text after `prefix`. A request whose own
last message is an assistant message is a continuation too (the reply is what follows it).

Retries: botocore's own retries are off; ours (`backends.retry`: full-jitter backoff, `Retry-After`) cover
throttling (`ThrottlingException`, HTTP 429), 5xx/unavailable/timeouts and connection errors; a request that
keeps failing becomes a finish_reason="error" result. Credentials come only from boto3's default chain (the
environment, `profile`, instance roles); `describe()` names the region, profile and endpoint, never a key.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from backends.base import GenerationRequest, GenerationResult, SamplingParams
from backends.retry import (
    RetryListener,
    RetryLog,
    RetryPolicy,
    classify,
    is_retryable_status,
    parse_retry_after,
    retry_reason,
)

USAGE_KEYS = ("requests", "prompt_tokens", "completion_tokens", "retries", "errors")
RETRYABLE_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "ServiceUnavailableException",
                             "InternalServerException", "ModelNotReadyException", "ModelTimeoutException"})
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


@dataclass(frozen=True)
class Continuation:
    """What the model wrote after a prefix (`text`), why it stopped, and the call's usage."""

    text: str
    finish_reason: str  # "stop" | "length" | "error"
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None


def to_converse(messages: Sequence[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """(system blocks, Converse messages): system messages move out; consecutive same-role turns merge."""
    system: list[dict[str, str]] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        role, text = message.get("role", "user"), str(message.get("content", ""))
        if role == "system":
            system.append({"text": text})
        elif out and out[-1]["role"] == role:
            out[-1]["content"].append({"text": text})
        else:
            out.append({"role": role, "content": [{"text": text}]})
    return system, out


def classify_aws(exc: BaseException) -> tuple[bool, float | None, str]:
    """(retryable, retry_after, description) for a botocore ClientError, else the generic HTTP classification."""
    response = getattr(exc, "response", None)
    if not (isinstance(response, dict) and "Error" in response):
        return classify(exc)
    meta = response.get("ResponseMetadata") or {}
    status = int(meta.get("HTTPStatusCode") or 0)
    code = str(response["Error"].get("Code", ""))
    message = str(response["Error"].get("Message", ""))[:500]
    retryable = code in RETRYABLE_CODES or is_retryable_status(status)
    return retryable, parse_retry_after(meta.get("HTTPHeaders")), f"HTTP {status} {code}: {message}"


def aws_reason(exc: BaseException) -> str:
    """The retry label of a botocore ClientError (`http_<status>`, else its error code), else the generic one."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return f"http_{status}" if status else str(response["Error"].get("Code") or "aws_error")
    return retry_reason(exc)


class BedrockGenerator:
    """`Generator` over Bedrock's Converse API (any model with Converse support: Claude, Llama, Nova, ...)."""

    def __init__(self, model: str, region: str | None = None, profile: str | None = None,
                 endpoint_url: str | None = None, concurrency: int = 8, timeout: float = 120,
                 max_retries: int = 6, backoff_base: float = 0.5, backoff_max: float = 30,
                 additional_fields: dict[str, Any] | None = None, on_retry: RetryListener | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.model = model
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.concurrency = max(1, int(concurrency))
        self.timeout = float(timeout)
        self.policy = RetryPolicy(max_retries=max_retries, backoff_base=backoff_base, backoff_max=backoff_max)
        self.additional_fields = dict(additional_fields or {})
        session = boto3.Session(profile_name=profile, region_name=region)
        self.region = session.region_name
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=self.timeout,
                        connect_timeout=min(self.timeout, 30.0), max_pool_connections=self.concurrency)
        self._client = session.client("bedrock-runtime", endpoint_url=endpoint_url, config=config)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="bedrock")
        self._usage = dict.fromkeys(USAGE_KEYS, 0)
        self.retry_log = RetryLog(on_retry)
        self._lock = threading.Lock()
        self._closed = threading.Event()

    # -- usage ----------------------------------------------------------------------------------------------
    @property
    def usage(self) -> dict[str, int]:
        """Totals since construction: requests (answered), prompt/completion tokens, retries, errors."""
        with self._lock:
            return dict(self._usage)

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for key, value in deltas.items():
                self._usage[key] += value

    @property
    def retries(self) -> dict[str, int]:
        """Retries since construction, per reason (`http_429`, `timeout`, ...)."""
        return self.retry_log.counts()

    # -- one call with retries --------------------------------------------------------------------------------
    def _converse(self, messages: Sequence[dict[str, str]], params: SamplingParams) -> Continuation:
        """One Converse call with our retries; never raises: failures become an error Continuation."""
        system, converse_messages = to_converse(messages)
        config: dict[str, Any] = {"maxTokens": params.max_tokens, "temperature": params.temperature}
        if params.top_p < 1.0:  # some models refuse temperature and topP together
            config["topP"] = params.top_p
        if params.stop:
            config["stopSequences"] = list(params.stop)
        kwargs: dict[str, Any] = {"modelId": self.model, "messages": converse_messages, "inferenceConfig": config}
        if system:
            kwargs["system"] = system
        if self.additional_fields:
            kwargs["additionalModelRequestFields"] = self.additional_fields
        attempt = 0
        while True:
            try:
                response = self._client.converse(**kwargs)
            except Exception as exc:  # noqa: BLE001 - classified; one bad request must not fail the batch
                retryable, retry_after, text = classify_aws(exc)
                if not retryable or attempt >= self.policy.max_retries or self._closed.is_set():
                    self._count(errors=1)
                    if retryable:
                        text = f"{text} (gave up after {attempt + 1} attempts)"
                    return Continuation("", "error", error=text)
                self._count(retries=1)
                delay = self.policy.delay(attempt, retry_after)
                self.retry_log.record(aws_reason(exc), text, delay)
                if self._closed.wait(delay):
                    return Continuation("", "error", error="closed while retrying")
                attempt += 1
                continue
            return self._parse(response)

    def _parse(self, response: dict[str, Any]) -> Continuation:
        blocks = ((response.get("output") or {}).get("message") or {}).get("content") or []
        text = "".join(block.get("text", "") for block in blocks if isinstance(block, dict))
        usage = response.get("usage") or {}
        tokens_in, tokens_out = int(usage.get("inputTokens") or 0), int(usage.get("outputTokens") or 0)
        self._count(requests=1, prompt_tokens=tokens_in, completion_tokens=tokens_out)
        reason = str(response.get("stopReason") or "end_turn")
        finish = STOP_REASONS.get(reason, "error")
        return Continuation(text, finish, tokens_in, tokens_out, None if finish != "error" else f"stopReason={reason}")

    # -- Generator protocol -----------------------------------------------------------------------------------
    def _result(self, req: GenerationRequest, sample_idx: int, params: SamplingParams) -> GenerationResult:
        messages = list(req.messages) if req.messages is not None else [{"role": "user", "content": req.prompt}]
        if messages and messages[-1].get("role") == "assistant":  # a prefill: the reply is what follows it
            out = self._continue(messages[:-1], str(messages[-1].get("content", "")), params)
        else:
            out = self._converse(messages, params)
        return GenerationResult(req.key, sample_idx, out.text, out.finish_reason, prompt_tokens=out.input_tokens,
                                completion_tokens=out.output_tokens, error=out.error)

    def generate(self, requests: Iterable[GenerationRequest], params: SamplingParams) -> Iterator[GenerationResult]:
        """At most 2 x concurrency calls queued (lazy iterables are read as calls finish); results as they come."""
        if self._closed.is_set():
            raise RuntimeError("BedrockGenerator is closed")
        pending: set[Future[GenerationResult]] = set()
        it = iter(requests)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < 2 * self.concurrency:
                    req = next(it, None)
                    if req is None:
                        exhausted = True
                        break
                    pending.update(self._pool.submit(self._result, req, s, params) for s in range(params.n))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()

    # -- continuation (guided decoding's oracle) --------------------------------------------------------------
    def continue_text(self, messages: Sequence[dict[str, str]], prefix: str, max_tokens: int,
                      params: SamplingParams | None = None) -> Continuation:
        """The model's next (up to) `max_tokens` tokens after `prefix`, the assistant's text so far."""
        params = SamplingParams(max_tokens=max_tokens, temperature=params.temperature if params else 0.0,
                                top_p=params.top_p if params else 1.0, stop=params.stop if params else ())
        return self._continue(messages, prefix, params)

    def _continue(self, messages: Sequence[dict[str, str]], prefix: str, params: SamplingParams) -> Continuation:
        stripped = prefix.rstrip()
        trailing = prefix[len(stripped):]
        turns = list(messages)
        if stripped:
            turns.append({"role": "assistant", "content": stripped})
        out = self._converse(turns, params)
        text = out.text
        if trailing and text.startswith(trailing):
            text = text[len(trailing):]
        elif trailing:
            text = text.lstrip()  # the prefix already ends in whitespace: do not write it twice
        return Continuation(text, out.finish_reason, out.input_tokens, out.output_tokens, out.error)

    def continue_batch(self, items: Sequence[tuple[Sequence[dict[str, str]], str]], max_tokens: int,
                       params: SamplingParams | None = None) -> list[Continuation]:
        """`continue_text` for many (messages, prefix) pairs at once, in the pool; results in input order."""
        futures = [self._pool.submit(self.continue_text, messages, prefix, max_tokens, params)
                   for messages, prefix in items]
        return [future.result() for future in futures]

    # -- bookkeeping -----------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {"backend": "bedrock", "model": self.model, "region": self.region, "profile": self.profile,
                "endpoint_url": self.endpoint_url, "concurrency": self.concurrency, "timeout": self.timeout,
                "max_retries": self.policy.max_retries, "additional_fields": self.additional_fields}

    def close(self) -> None:
        """Stop retry waits, drop queued calls and wait for the ones in flight."""
        self._closed.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> BedrockGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
