"""OpenAI-compatible HTTP backend (vLLM, SGLang, llama.cpp servers, hosted APIs) on the official async client.

The run loop is synchronous, the client is async: one private event loop runs in a daemon thread per
generator. `generate` pulls requests from the caller's iterable *in the caller's thread* (so lazy iterables
never cross threads), keeps a window of `2 * concurrency` requests submitted to the loop, where an
`asyncio.Semaphore` bounds the HTTP calls actually open, and yields each request's n results as soon as its
response arrives. Closing the iterator (or `close()`) cancels the in-flight calls and waits for them to
unwind.

The client's own retries are disabled: ours (see `backends.retry`) use full-jitter backoff, honour
`Retry-After`, count retries in `usage`, and turn a request that keeps failing into finish_reason="error"
results instead of an exception that would kill the batch. The API key is read from the environment at
construction and only handed to the client; it is never stored on this object, logged or described.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import queue
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Literal

from backends.base import (
    GenerationRequest,
    GenerationResult,
    PromptTooLong,
    SamplingParams,
    TokenLogprob,
    Truncation,
    request_seed,
)
from backends.prompt_fit import fit_prompt
from backends.retry import RetryListener, RetryLog, RetryPolicy, classify, retry_reason

Mode = Literal["chat", "completions"]
USAGE_KEYS = ("requests", "prompt_tokens", "completion_tokens", "retries", "errors")


class OpenAICompatGenerator:
    """`Generator` over an OpenAI-compatible `/v1/chat/completions` or `/v1/completions` endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        mode: Mode = "chat",
        concurrency: int = 16,
        timeout: float = 60,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30,
        extra_body: dict[str, Any] | None = None,
        max_prompt_length: int | None = None,
        truncation: Truncation = "error",
        tokenizer: str | None = None,
        on_retry: RetryListener | None = None,
    ) -> None:
        if mode not in ("chat", "completions"):
            raise ValueError(f"mode must be chat or completions, not {mode!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.mode: Mode = mode
        self.concurrency = max(1, int(concurrency))
        self.timeout = float(timeout)
        self.policy = RetryPolicy(max_retries=max_retries, backoff_base=backoff_base, backoff_max=backoff_max)
        self.extra_body = dict(extra_body or {})
        self.max_prompt_length = max_prompt_length
        self.truncation = truncation
        self.tokenizer_name = tokenizer or model
        self.tokenizer = load_tokenizer(self.tokenizer_name) if max_prompt_length is not None else None
        self._usage = dict.fromkeys(USAGE_KEYS, 0)
        self.retry_log = RetryLog(on_retry)
        self._usage_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._sem: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # touched only on the loop thread
        self._ids = itertools.count()
        self._closed = False
        # Build the client now so a missing `openai` package fails at construction, not mid-run.
        self._ensure_loop()

    # -- usage -------------------------------------------------------------------------------------
    @property
    def usage(self) -> dict[str, int]:
        """Totals since construction: requests (answered), prompt/completion tokens, retries, errors."""
        with self._usage_lock:
            return dict(self._usage)

    @property
    def retries(self) -> dict[str, int]:
        """Retries since construction, per reason (`http_429`, `timeout`, `connection`, ...)."""
        return self.retry_log.counts()

    def _count(self, **deltas: int) -> None:
        with self._usage_lock:
            for key, value in deltas.items():
                self._usage[key] += value

    # -- event loop thread -------------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._closed:
                raise RuntimeError("OpenAICompatGenerator is closed")
            if self._loop is not None:
                return self._loop
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=self._run_loop, args=(loop,), name="openai-compat-loop", daemon=True
            )
            thread.start()
            try:
                asyncio.run_coroutine_threadsafe(self._setup(), loop).result(timeout=30)
            except BaseException:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=5)
                raise
            self._loop, self._thread = loop, thread
            return loop

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _setup(self) -> None:
        from openai import AsyncOpenAI

        self._client = AsyncOpenAI(
            base_url=self.base_url,
            api_key=os.environ.get(self.api_key_env) or "EMPTY",
            max_retries=0,
            timeout=self.timeout,
        )
        self._sem = asyncio.Semaphore(self.concurrency)

    # -- sync API -------------------------------------------------------------------------------------------
    def generate(
        self, requests: Iterable[GenerationRequest], params: SamplingParams
    ) -> Iterator[GenerationResult]:
        """Submit requests (at most 2*concurrency pending), yield results per request as responses arrive."""
        loop = self._ensure_loop()
        done: queue.Queue[tuple[int, list[GenerationResult]]] = queue.Queue()
        pending: dict[int, asyncio.Task[Any] | None] = {}
        window = 2 * self.concurrency
        it = iter(requests)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < window:
                    try:
                        req = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    try:
                        req, truncated = self._fit(req)
                    except ValueError as exc:  # too long, or no chat template: this request only (never a cancel)
                        msg = str(exc) if isinstance(exc, PromptTooLong) else f"{type(exc).__name__}: {exc}"
                        yield from (GenerationResult(req.key, s, "", "error", error=msg) for s in range(params.n))
                        continue
                    rid = next(self._ids)
                    pending[rid] = None
                    loop.call_soon_threadsafe(self._spawn, rid, req, params, done, pending, truncated)
                if not pending:
                    return
                rid, results = done.get()
                pending.pop(rid, None)
                yield from results
        finally:
            if pending:
                self._cancel(list(pending), pending)

    def _spawn(
        self,
        rid: int,
        req: GenerationRequest,
        params: SamplingParams,
        done: queue.Queue[tuple[int, list[GenerationResult]]],
        pending: dict[int, asyncio.Task[Any] | None],
        truncated: bool = False,
    ) -> None:
        """On the loop thread: start the task for one request (unless it was cancelled before it started)."""
        if rid not in pending:
            return
        task = asyncio.get_running_loop().create_task(self._one(req, params, truncated))
        pending[rid] = task
        self._tasks.add(task)

        def finished(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is None:
                done.put((rid, t.result()))
            else:  # _one never raises; this keeps the caller from waiting forever if it ever does
                msg = f"{type(exc).__name__}: {exc}"
                errors = [GenerationResult(req.key, i, "", "error", error=msg) for i in range(params.n)]
                done.put((rid, errors))

        task.add_done_callback(finished)

    def _cancel(self, rids: list[int], pending: dict[int, asyncio.Task[Any] | None]) -> None:
        """Cancel the given requests' tasks and wait (briefly) until they have unwound."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        async def cancel_all() -> None:
            tasks = []
            for rid in rids:
                task = pending.pop(rid, None)
                if task is not None and not task.done():
                    task.cancel()
                    tasks.append(task)
            if tasks:
                await asyncio.wait(tasks, timeout=10)

        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout=15)
        except Exception:  # noqa: BLE001 - best effort while unwinding
            pass

    async def agenerate(
        self, requests: Iterable[GenerationRequest], params: SamplingParams
    ) -> AsyncIterator[GenerationResult]:
        """Async view of `generate` for callers already inside an event loop (the judge stage)."""
        it = self.generate(requests, params)
        end = object()
        try:
            while True:
                item = await asyncio.to_thread(next, it, end)
                if item is end:
                    return
                yield item  # type: ignore[misc]
        finally:
            await asyncio.to_thread(it.close)

    # -- prompt length ---------------------------------------------------------------------------------
    def _fit(self, req: GenerationRequest) -> tuple[GenerationRequest, bool]:
        """Cut the content of an over-long prompt with the model's tokenizer; the server renders the template."""
        if self.tokenizer is None:
            return req, False
        fitted = fit_prompt(self.tokenizer, req, self.max_prompt_length, self.truncation)
        return fitted.request, fitted.truncated

    # -- one request -------------------------------------------------------------------------------
    async def _one(self, req: GenerationRequest, params: SamplingParams,
                   truncated: bool = False) -> list[GenerationResult]:
        """Call the API with retries; never raises (except cancellation): failures become error results."""
        assert self._sem is not None
        attempt = 0
        while True:
            try:
                async with self._sem:
                    response = await asyncio.wait_for(self._call(req, params), timeout=self.timeout)
                results = self._parse(req, params, response)
                for r in results:
                    r.prompt_truncated = truncated
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below; one bad request must not fail the batch
                retryable, retry_after, text = classify(exc)
                if not retryable or attempt >= self.policy.max_retries:
                    self._count(errors=1)
                    if retryable:
                        text = f"{text} (gave up after {attempt + 1} attempts)"
                    return [GenerationResult(req.key, s, "", "error", error=text) for s in range(params.n)]
                self._count(retries=1)
                delay = self.policy.delay(attempt, retry_after)
                self.retry_log.record(retry_reason(exc), text, delay)
                await asyncio.sleep(delay)
                attempt += 1
                continue
            return results

    async def _call(self, req: GenerationRequest, params: SamplingParams) -> Any:
        client = self._client
        extra_body = dict(self.extra_body)
        if params.ignore_eos:
            extra_body["ignore_eos"] = True  # vLLM / SGLang extension
        common: dict[str, Any] = dict(
            model=self.model,
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            timeout=self.timeout,
        )
        seed = request_seed(params.seed, req.key)
        if seed is not None:
            common["seed"] = seed
        if params.stop:
            common["stop"] = list(params.stop)
        if extra_body:
            common["extra_body"] = extra_body
        if self.mode == "chat":
            if req.messages is not None:
                messages = [dict(m) for m in req.messages]
            else:
                messages = [{"role": "user", "content": req.prompt or ""}]
            if params.logprobs is not None:
                common.update(logprobs=True, top_logprobs=params.logprobs)
            return await client.chat.completions.create(messages=messages, **common)
        if req.messages is not None:
            raise ValueError("mode='completions' needs prompt requests, got chat messages")
        if params.logprobs is not None:
            common["logprobs"] = params.logprobs
        return await client.completions.create(prompt=req.prompt or "", **common)

    # -- parsing -----------------------------------------------------------------------------------
    def _parse(self, req: GenerationRequest, params: SamplingParams, response: Any) -> list[GenerationResult]:
        choices = sorted(response.choices or [], key=lambda c: c.index)
        if not choices:
            raise ValueError("response has no choices")
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_total = int(getattr(usage, "completion_tokens", 0) or 0)
        results = []
        for choice in choices:
            if self.mode == "chat":
                text = (choice.message.content if choice.message is not None else None) or ""
                lps = _chat_logprobs(choice) if params.logprobs is not None else None
            else:
                text = choice.text or ""
                lps = _completion_logprobs(choice) if params.logprobs is not None else None
            finish, error = _finish(choice.finish_reason)
            results.append(
                GenerationResult(
                    key=req.key,
                    sample_idx=int(choice.index),
                    text=text,
                    finish_reason=finish,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=len(lps) if lps else 0,
                    logprobs=lps,
                    error=error,
                )
            )
        # Servers report one completion total for all n choices; per choice it is exact only with logprobs
        # (or n == 1). Otherwise split the total evenly so the per-result counts still sum to the usage.
        if not all(r.logprobs for r in results):
            share, extra = divmod(completion_total, len(results))
            for i, r in enumerate(results):
                r.completion_tokens = share + (1 if i < extra else 0)
        self._count(requests=1, prompt_tokens=prompt_tokens, completion_tokens=completion_total)
        return results

    # -- bookkeeping -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            "backend": "openai_compat",
            "base_url": self.base_url,
            "model": self.model,
            "mode": self.mode,
            "api_key_env": self.api_key_env,
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "max_retries": self.policy.max_retries,
            "extra_body": self.extra_body,
            "max_prompt_length": self.max_prompt_length,
            "truncation": self.truncation,
            "tokenizer": self.tokenizer_name if self.tokenizer is not None else None,
        }

    def close(self) -> None:
        """Cancel in-flight calls, close the HTTP client and stop the loop thread."""
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            tasks = [t for t in self._tasks if not t.done()]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=10)
            if self._client is not None:
                await self._client.close()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=15)
        except Exception:  # noqa: BLE001
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

    def __enter__(self) -> OpenAICompatGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_tokenizer(name: str) -> Any:
    """The tokenizer that counts prompt tokens for `max_prompt_length`: an alias, a local folder, or a hub id
    already in the local cache. A server's tokenizer cannot be asked for, so without one the limit is refused."""
    from backends.embedded import resolve_model

    try:
        from transformers import AutoTokenizer

        path = resolve_model(name)
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means: no tokenizer to count with
        raise ValueError(
            f"max_prompt_length needs the model's tokenizer to count prompt tokens, and none could be loaded for "
            f"{name!r} ({type(exc).__name__}: {str(exc)[:200]}); set backend option tokenizer = "
            "'<local folder, alias or cached hub id>', or drop max_prompt_length"
        ) from None


def _finish(reason: str | None) -> tuple[str, str | None]:
    if reason in ("stop", "length"):
        return reason, None
    if reason in (None, "eos", "tool_calls", "function_call"):
        return "stop", None
    return "error", f"finish_reason={reason}"  # content_filter, abort, error, ...


def _chat_logprobs(choice: Any) -> list[TokenLogprob] | None:
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if content is None:
        return None
    return [
        TokenLogprob(
            token=item.token,
            logprob=float(item.logprob),
            top={t.token: float(t.logprob) for t in (item.top_logprobs or [])},
        )
        for item in content
    ]


def _completion_logprobs(choice: Any) -> list[TokenLogprob] | None:
    lp = getattr(choice, "logprobs", None)
    if lp is None or lp.tokens is None:
        return None
    tops = lp.top_logprobs or [None] * len(lp.tokens)
    values = lp.token_logprobs or [None] * len(lp.tokens)
    return [
        TokenLogprob(
            token=tok,
            logprob=float(value) if value is not None else float("nan"),
            top={k: float(v) for k, v in (top or {}).items()},
        )
        for tok, value, top in zip(lp.tokens, values, tops, strict=False)
    ]
