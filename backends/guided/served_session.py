"""Guided sessions over served engines: vLLM's offline `LLM` and any OpenAI-compatible `/v1/completions` server.

These engines keep no state we can hold on to between steps, so each step re-sends the row's whole context
(prompt + answer so far) as token ids and relies on the engine's prefix caching to skip the shared prefix: only
the new tokens are computed. All rows of a step go to the engine together (one `LLM.generate` call; concurrent
HTTP requests under a bound), so the engine batches them. Next-token statistics come from top-k logprobs
(`exact_stats = False`): a lower bound on entropy, the unseen tail lumped into one outcome.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backends.guided.handover import render_prompt
from backends.guided.session import ModelSampling, Prompt, Segment
from backends.guided.stats import stats_from_top_logprobs


class _ContextSession:
    """Rows as token-id lists (prompt, answer); subclasses implement `_complete` for a batch of contexts."""

    exact_stats = False
    top_logprobs = 20

    def render(self, prompt: Prompt) -> list[int]:
        return render_prompt(self.tokenizer, prompt)

    def open(self, prompts: list[list[int]], sampling: ModelSampling | None = None,
             track_stats: bool = False) -> None:
        self.sampling = sampling or ModelSampling()
        self.track_stats = track_stats
        self.prompts = [list(p) for p in prompts]
        self.answers: dict[int, list[int]] = {r: [] for r in range(len(prompts))}
        self.calls = 0
        self._made: dict[tuple[Any, ...], Any] = {}  # engine sampling params of this batch's sampling
        self._row_calls: dict[int, int] = {}

    def answer_ids(self, row: int) -> list[int]:
        return self.answers[row]

    def append(self, row: int, ids: list[int], drop_last: int = 0) -> None:
        if drop_last:
            del self.answers[row][-drop_last:]
        self.answers[row].extend(ids)

    def release(self, rows: list[int]) -> None:
        pass

    def generate(self, rows: list[int], budgets: list[int], ignore_eos: bool = False) -> dict[int, Segment]:
        want = [(r, b) for r, b in zip(rows, budgets, strict=True) if b > 0]
        out = {r: Segment(ids=[]) for r in rows}
        results = self._complete([self.prompts[r] + self.answers[r] for r, _ in want], [b for _, b in want],
                                 ignore_eos, self.top_logprobs if self.track_stats else None, [r for r, _ in want])
        self.calls += 1
        for (r, _), (ids, tops, eos) in zip(want, results, strict=True):
            out[r] = Segment(ids=list(ids), stats=[stats_from_top_logprobs(t) for t in tops] if tops else [],
                             eos=eos and not ignore_eos)
            self.answers[r].extend(ids)
        return out

    def boundary_stats(self, rows: list[int]) -> dict[int, dict[str, float]]:
        """A one-token probe per row (its prefix is cached); the probe's token is not kept."""
        results = self._complete([self.prompts[r] + self.answers[r] for r in rows], [1] * len(rows), True,
                                 self.top_logprobs, rows)
        return {r: stats_from_top_logprobs(tops[0]) if tops else {} for r, (_, tops, _) in zip(rows, results,
                                                                                             strict=True)}

    def _complete(self, contexts: list[list[int]], budgets: list[int], ignore_eos: bool, logprobs: int | None,
                  rows: list[int]) -> list[tuple[list[int], list[dict[Any, float]], bool]]:
        raise NotImplementedError


VOCAB_LIMIT = "backends.vllm_vocab_limit:TokenizerVocabLimit"  # by name: imported in the engine's own process


class VLLMSession(_ContextSession):
    """vLLM offline engine with prefix caching: one engine call per step for all rows (`vllm_driver.EngineDriver`),
    or one request per row in the pipelined schedule (`submit_row` / `take_row`)."""

    def __init__(self, model: str, share: VLLMSession | None = None, gate: bool = True,
                 **engine_kwargs: Any) -> None:
        """`share`: another session's engine (base and oracle the same model: one engine, two sessions).
        `gate`: admit each call's batch at once (`vllm_driver`); off, requests trickle in as with `LLM.generate`."""
        if share is not None:
            self.generator, self.owner, self.driver = share.generator, False, share.driver
        else:
            from backends.guided.vllm_driver import EngineDriver
            from backends.vllm_engine import VLLMGenerator

            engine_kwargs.setdefault("enable_prefix_caching", True)
            # never sample an id past the tokenizer: it is no token, and the other model may not have it
            engine_kwargs.setdefault("logits_processors", [VOCAB_LIMIT])
            # every call re-sends whole contexts, so the engine hashes every full block of every row again: a fast
            # non-cryptographic hash (one user's offline engine; no cache shared between tenants to poison)
            if _has_module("xxhash"):
                engine_kwargs.setdefault("prefix_caching_hash_algo", "xxhash")
            self.generator, self.owner = VLLMGenerator(model, **engine_kwargs), True
            self.driver = EngineDriver(self.generator.llm, gate=gate)
        self.llm, self.tokenizer, self.model_name = self.generator.llm, self.generator.tokenizer, model

    def _params(self, budget: int, seed_offset: int, ignore_eos: bool, logprobs: int | None) -> Any:
        """Engine sampling params; requests that ask the same share one object (`skip_clone`: the engine copies it
        shallowly; a deep copy per request was a third of the cost of adding one, and every call adds 64 or so)."""
        s = self.sampling
        seed = None if s.temperature <= 0 or s.seed is None else s.seed + seed_offset
        key = (budget, seed, ignore_eos, logprobs)
        made = self._made
        if key not in made:
            from vllm import SamplingParams as VSamplingParams
            from vllm.sampling_params import RequestOutputKind

            made[key] = VSamplingParams(max_tokens=budget, temperature=s.temperature, top_p=s.top_p,
                                        logprobs=logprobs, seed=seed, ignore_eos=ignore_eos, detokenize=False,
                                        output_kind=RequestOutputKind.FINAL_ONLY, skip_clone=True)
        return made[key]

    def _complete(self, contexts: list[list[int]], budgets: list[int], ignore_eos: bool, logprobs: int | None,
                  rows: list[int]) -> list[tuple[list[int], list[dict[Any, float]], bool]]:
        params = [self._params(b, r + self.calls, ignore_eos, logprobs) for b, r in zip(budgets, rows, strict=True)]
        return [self._parse(out) for out in self.driver.run(contexts, params)]

    @staticmethod
    def _parse(out: Any) -> tuple[list[int], list[dict[Any, float]], bool]:
        comp = out.outputs[0]
        ids = list(comp.token_ids)
        eos = comp.finish_reason == "stop" and not isinstance(comp.stop_reason, str)
        if eos and ids:  # EOS (or a stop token id) ends the row; vLLM includes it in token_ids
            ids = ids[:-1]
        tops = [{tid: lp.logprob for tid, lp in (pos or {}).items()} for pos in (comp.logprobs or [])]
        return ids, tops, eos

    # -- one row at a time: the pipelined schedule (backends/guided/pipelined.py) -------------------------
    def submit_row(self, worker: Any, row: int, budget: int, ignore_eos: bool, tag: Any,
                   probe: bool = False) -> None:
        """Queue the row's next segment (or a one-token statistics probe) on `worker` (an `EngineWorker`)."""
        calls = self._row_calls
        calls[row] = calls.get(row, 0) + 1
        logprobs = self.top_logprobs if probe or self.track_stats else None
        params = self._params(1 if probe else budget, row + calls[row], True if probe else ignore_eos, logprobs)
        worker.submit(self.prompts[row] + self.answers[row], params, tag)

    def take_row(self, row: int, out: Any, ignore_eos: bool, probe: bool = False) -> Any:
        """The finished request of `submit_row`: the row's `Segment` (kept in its answer), or the probe's stats."""
        ids, tops, eos = self._parse(out)
        if probe:
            return stats_from_top_logprobs(tops[0]) if tops else {}
        self.answers[row].extend(ids)
        return Segment(ids=ids, stats=[stats_from_top_logprobs(t) for t in tops] if tops else [],
                       eos=eos and not ignore_eos)

    def describe(self) -> dict[str, Any]:
        return {"engine": "vllm", **self.generator.describe()}

    def close(self) -> None:
        if self.owner:
            self.generator.close()


class OpenAICompatSession(_ContextSession):
    """An OpenAI-compatible server (`vllm serve` with prefix caching, or any server that takes token-id prompts).

    `tokenizer` names the model's tokenizer (default: the model name) for chat templates, ids and hand-over.
    Requests of one step run concurrently (at most `concurrency` open); 429/5xx are retried with backoff.
    """

    def __init__(self, model: str, base_url: str, tokenizer: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 64, timeout: float = 120.0, max_retries: int = 4,
                 on_retry: Any = None) -> None:
        import os

        import httpx
        from transformers import AutoTokenizer

        from backends.embedded import resolve_model

        self.model_name, self.base_url = model, base_url.rstrip("/")
        self.tokenizer = AutoTokenizer.from_pretrained(resolve_model(tokenizer or model))
        key = os.environ.get(api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(timeout=timeout, headers=headers,
                                   limits=httpx.Limits(max_connections=concurrency))
        self.pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="guided-http")
        self.concurrency, self.max_retries = concurrency, max_retries
        from backends.retry import RetryLog

        self.retry_log = RetryLog(on_retry)  # retries per reason; `on_retry(reason, description, delay)` hears each
        self._lock = threading.Lock()
        self.requests = 0

    def _complete(self, contexts: list[list[int]], budgets: list[int], ignore_eos: bool, logprobs: int | None,
                  rows: list[int]) -> list[tuple[list[int], list[dict[Any, float]], bool]]:
        jobs = [self.pool.submit(self._one, c, b, ignore_eos, logprobs, r)
                for c, b, r in zip(contexts, budgets, rows, strict=True)]
        return [j.result() for j in jobs]

    def _one(self, context: list[int], budget: int, ignore_eos: bool, logprobs: int | None,
             row: int) -> tuple[list[int], list[dict[Any, float]], bool]:
        import random
        import time

        import httpx

        from backends.retry import RetryPolicy, is_retryable_status, parse_retry_after, retry_reason

        s = self.sampling
        body: dict[str, Any] = {"model": self.model_name, "prompt": context, "max_tokens": budget,
                                "temperature": s.temperature, "top_p": s.top_p, "return_token_ids": True,
                                "ignore_eos": ignore_eos, "skip_special_tokens": False}
        if s.temperature > 0 and s.seed is not None:
            body["seed"] = s.seed + row + self.calls
        if logprobs:
            body.update(logprobs=logprobs, return_tokens_as_token_ids=True)
        policy, rng = RetryPolicy(max_retries=self.max_retries), random.Random(row)
        for attempt in range(self.max_retries + 1):
            try:
                resp = self.client.post(f"{self.base_url}/completions", json=body)
            except httpx.TransportError as exc:  # refused, reset, timed out: the server may be back soon
                if attempt == self.max_retries:
                    raise
                delay = policy.delay(attempt, None, rng)
                self.retry_log.record(retry_reason(exc), f"{type(exc).__name__}: {exc}", delay)
                time.sleep(delay)
                continue
            if resp.status_code == 200 or not is_retryable_status(resp.status_code) or attempt == self.max_retries:
                break
            delay = policy.delay(attempt, parse_retry_after(resp.headers), rng)
            self.retry_log.record(f"http_{resp.status_code}", f"HTTP {resp.status_code}", delay)
            time.sleep(delay)
        resp.raise_for_status()
        with self._lock:
            self.requests += 1
        return self._parse(resp.json()["choices"][0])

    def _parse(self, choice: dict[str, Any]) -> tuple[list[int], list[dict[Any, float]], bool]:
        ids = choice.get("token_ids")
        if ids is None:  # a server without token ids: re-encode the text with the local tokenizer
            from backends.guided.handover import encode

            ids = encode(self.tokenizer, choice.get("text") or "")
        ids = list(ids)
        eos = choice.get("finish_reason") == "stop" and not isinstance(choice.get("stop_reason"), str)
        if eos and ids:  # EOS (or a stop token id) ends the row; the server includes it in token_ids
            ids = ids[:-1]
        tops = []
        for top in ((choice.get("logprobs") or {}).get("top_logprobs") or []):
            tops.append({_token_id(t): v for t, v in (top or {}).items()})
        return ids, tops, eos

    def describe(self) -> dict[str, Any]:
        return {"engine": "openai_compat", "model": self.model_name, "base_url": self.base_url,
                "concurrency": self.concurrency}

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _token_id(token: str) -> Any:
    return int(token.split(":", 1)[1]) if token.startswith("token_id:") else token
