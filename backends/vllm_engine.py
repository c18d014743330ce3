"""vLLM offline backend: a continuously fed `LLMEngine` that streams finished requests back as they complete.

`LLM.generate` takes a whole list and returns only when every prompt is done, so a run split into chunks would
drain the engine at every chunk boundary. Instead requests are pulled lazily from the caller's iterable and
added to the engine (`llm_engine.add_request`) so that up to `max_in_flight` are queued at all times, and the
`step()` loop yields each request's n results the moment it finishes. The scheduler therefore always has
work, and the caller can commit a chunk as soon as its last request comes back.

Prompts are tokenized here (chat template applied by us) so that `max_prompt_length` truncation cuts the content
and keeps the template, exactly like the hf backend (`backends.prompt_fit`). Scripts that construct a
`VLLMGenerator` need an `if __name__ == "__main__":` guard: vLLM spawns its engine-core and worker processes.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any

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

# Defaults that make vLLM usable on a small CPU box (a CI runner, a laptop); explicit env settings win.
CPU_ENV_DEFAULTS: dict[str, str] = {
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_HOST_IP": "127.0.0.1",
}


FEED_SLICE = 64  # requests tokenized and added between two engine steps


def apply_cpu_env_defaults(env: dict[str, str] | None = None) -> dict[str, str]:
    """Fill the CPU env defaults into `env` (default: os.environ) without overriding what is set."""
    target: Any = os.environ if env is None else env
    for key, value in CPU_ENV_DEFAULTS.items():
        target.setdefault(key, value)
    return target


def vllm_installed() -> bool:
    """Cheap check (no import): is a `vllm` package on the path at all?"""
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


@functools.lru_cache(maxsize=1)
def vllm_available() -> tuple[bool, str]:
    """(True, version) if `import vllm` works, else (False, the reason) — for skips and CLI checks.

    Importing vllm takes ~10 s on a small CPU box; the answer is cached for the process.
    """
    try:
        import vllm
    except Exception as exc:  # noqa: BLE001 - any import failure (missing CUDA libs, ...) means unusable
        return False, f"{type(exc).__name__}: {exc}"
    return True, str(getattr(vllm, "__version__", "unknown"))


class VLLMGenerator:
    """`Generator` over vLLM's offline engine."""

    def __init__(
        self,
        model: str,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        enable_prefix_caching: bool = True,
        dtype: str = "auto",
        enforce_eager: bool | None = None,
        max_prompt_length: int | None = None,
        truncation: Truncation = "left",
        seed: int = 0,
        max_in_flight: int = 1024,
        progress: Any = None,
        **engine_kwargs: Any,
    ) -> None:
        from backends.embedded import resolve_model

        if truncation not in ("left", "right", "error"):
            raise ValueError(f"truncation must be left, right or error, not {truncation!r}")
        apply_cpu_env_defaults()
        import vllm
        from vllm.platforms import current_platform

        self.model_name = model
        self.path = resolve_model(model, progress)
        self.device = str(getattr(current_platform, "device_type", "") or "unknown")
        on_cpu = self.device == "cpu"
        if enforce_eager is None:
            enforce_eager = on_cpu
        if on_cpu and dtype == "auto":
            # vLLM's "auto" makes float32 checkpoints 16-bit; fp32 is stable (greedy) and fast enough on CPU.
            dtype = "float32"
        self.tensor_parallel_size = tensor_parallel_size
        self.dtype = dtype
        self.max_prompt_length = max_prompt_length
        self.truncation = truncation
        self.seed = seed
        self.max_in_flight = max(1, max_in_flight)
        self.vllm_version = str(vllm.__version__)
        self.llm = vllm.LLM(
            model=self.path,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            enable_prefix_caching=enable_prefix_caching,
            dtype=dtype,
            enforce_eager=enforce_eager,
            seed=seed,
            **engine_kwargs,
        )
        self.engine = self.llm.llm_engine
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = int(self.engine.model_config.max_model_len)
        self._ids = itertools.count()
        self._busy = threading.Lock()  # the engine serves one generate() at a time

    # -- prompt preparation ------------------------------------------------------------------------
    def encode(self, request: GenerationRequest) -> tuple[list[int], bool]:
        """Token ids of the rendered prompt, its content cut per policy; raises PromptTooLong for `error`."""
        fitted = fit_prompt(self.tokenizer, request, self.max_prompt_length, self.truncation)
        return fitted.ids, fitted.truncated

    def _sampling_params(self, params: SamplingParams, key: Any) -> Any:
        from vllm import SamplingParams as VSamplingParams
        from vllm.sampling_params import RequestOutputKind

        sp = VSamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            seed=request_seed(params.seed, key) if params.temperature > 0 else None,  # greedy: no sampler RNG
            stop=list(params.stop) or None,
            logprobs=params.logprobs,
            ignore_eos=params.ignore_eos,
        )
        sp.output_kind = RequestOutputKind.FINAL_ONLY  # only the finished request comes back from step()
        return sp

    # -- generation --------------------------------------------------------------------------------
    def generate(
        self, requests: Iterable[GenerationRequest], params: SamplingParams
    ) -> Iterator[GenerationResult]:
        """Feed requests lazily, keep up to `max_in_flight` in the engine, yield results as requests finish.

        Closing the iterator early aborts whatever is still in the engine.
        """
        if not self._busy.acquire(blocking=False):
            raise RuntimeError("VLLMGenerator.generate is already running (one at a time per engine)")
        it = iter(requests)
        exhausted = False
        inflight: dict[str, tuple[GenerationRequest, bool]] = {}
        try:
            while True:
                added = 0  # feed in slices so the engine starts while later prompts are still being tokenized
                while not exhausted and len(inflight) < self.max_in_flight and added < FEED_SLICE:
                    req = next(it, None)
                    if req is None:
                        exhausted = True
                        break
                    try:
                        ids, truncated = self.encode(req)
                        rid = f"cc{next(self._ids)}"
                        self.engine.add_request(
                            rid, {"prompt_token_ids": ids}, self._sampling_params(params, req.key)
                        )
                        inflight[rid] = (req, truncated)
                        added += 1
                    except Exception as exc:  # noqa: BLE001 - one bad prompt must not fail the batch
                        msg = str(exc) if isinstance(exc, PromptTooLong) else f"{type(exc).__name__}: {exc}"
                        yield from self._errors(req, params, msg)
                if not inflight:
                    if exhausted:
                        return
                    continue
                for out in self.engine.step():
                    if not out.finished or out.request_id not in inflight:
                        continue
                    req, truncated = inflight.pop(out.request_id)
                    yield from self._results(req, truncated, out, params)
        finally:
            if inflight:
                try:
                    self.engine.abort_request(list(inflight))
                except Exception:  # noqa: BLE001 - best effort while unwinding
                    pass
            self._busy.release()

    @staticmethod
    def _errors(req: GenerationRequest, params: SamplingParams, msg: str) -> Iterator[GenerationResult]:
        for s in range(params.n):
            yield GenerationResult(req.key, s, "", "error", error=msg)

    def _results(
        self, req: GenerationRequest, truncated: bool, out: Any, params: SamplingParams
    ) -> Iterator[GenerationResult]:
        prompt_tokens = len(out.prompt_token_ids or ())
        for comp in sorted(out.outputs, key=lambda c: c.index):
            reason = comp.finish_reason or "length"
            error = None
            if reason not in ("stop", "length"):
                error = f"vllm finish_reason={reason}"
                reason = "error"
            yield GenerationResult(
                key=req.key,
                sample_idx=comp.index,
                text=comp.text,
                finish_reason=reason,
                prompt_tokens=prompt_tokens,
                completion_tokens=len(comp.token_ids),
                logprobs=self._logprobs(comp, params.logprobs) if params.logprobs is not None else None,
                error=error,
                prompt_truncated=truncated,
            )

    def _logprobs(self, comp: Any, k: int) -> list[TokenLogprob]:
        """vLLM gives, per position, {token_id: Logprob} holding the sampled token plus the top-k."""
        result: list[TokenLogprob] = []
        positions = comp.logprobs or []
        for tok, pos in zip(comp.token_ids, positions, strict=False):
            pos = pos or {}
            chosen = pos.get(tok)
            top = {
                self._tok_text(tid, lp): float(lp.logprob)
                for tid, lp in pos.items()
                if lp.rank is not None and lp.rank <= max(1, k)
            }
            result.append(
                TokenLogprob(
                    token=self._tok_text(tok, chosen),
                    logprob=float(chosen.logprob) if chosen is not None else float("nan"),
                    top=top,
                )
            )
        return result

    def _tok_text(self, token_id: int, lp: Any) -> str:
        text = getattr(lp, "decoded_token", None) if lp is not None else None
        return text if text is not None else self.tokenizer.decode([token_id])

    # -- bookkeeping -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            "backend": "vllm",
            "model": self.model_name,
            "path": self.path,
            "tensor_parallel_size": self.tensor_parallel_size,
            "vllm_version": self.vllm_version,
            "device": self.device,
            "dtype": self.dtype,
            "max_model_len": self.max_model_len,
            "max_prompt_length": self.max_prompt_length,
            "truncation": self.truncation,
        }

    def close(self) -> None:
        """Shut the engine-core and worker processes down now rather than at interpreter exit."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            try:
                core.shutdown()
            except Exception:  # noqa: BLE001
                pass
        self.llm = None  # type: ignore[assignment]
        self.engine = None

    def __enter__(self) -> VLLMGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
