"""Overhead of our engine wrappers over the bare engines, same prompts, fixed output length (ignore_eos).

    python bench/inference_overhead_engines.py vllm   [--prompts 64] [--max-tokens 32]
    python bench/inference_overhead_engines.py openai [--base-url URL --model NAME] [--concurrency 8]

`vllm`: bare `vllm.LLM.generate` (one list, token-id prompts) vs `VLLMGenerator.generate` (lazy feeding,
streaming) on the *same* engine instance. `openai`: a bare asyncio loop of AsyncOpenAI calls under a semaphore vs
`OpenAICompatGenerator` at the same concurrency, against `--base-url` or a local vLLM server started here.
Each prints both throughputs and wrapper/bare (1.0 = no overhead); `--json` prints one JSON object instead.
The functions `bench_vllm` / `bench_openai` return the same numbers as dicts for the full-run benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.base import GenerationRequest, SamplingParams  # noqa: E402


def make_requests(n: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(key=i, messages=({"role": "user", "content": f"Write a short story about {i}."},))
        for i in range(n)
    ]


def _summary(bare_s: float, wrapped_s: float, tokens: int, **extra: Any) -> dict[str, Any]:
    bare_tps, wrapped_tps = tokens / bare_s, tokens / wrapped_s
    return {
        **extra,
        "tokens": tokens,
        "bare_s": round(bare_s, 3),
        "wrapped_s": round(wrapped_s, 3),
        "bare_tok_s": round(bare_tps, 1),
        "wrapped_tok_s": round(wrapped_tps, 1),
        "ratio": round(wrapped_tps / bare_tps, 3),
    }


def bench_vllm(
    model: str = "smollm2-135m", prompts: int = 64, max_tokens: int = 32, repeats: int = 2
) -> dict[str, Any]:
    """Best-of-`repeats` wall time for each path on one engine (a warm-up run goes first)."""
    from vllm import SamplingParams as VSamplingParams

    from backends.vllm_engine import VLLMGenerator

    gen = VLLMGenerator(model)
    try:
        reqs = make_requests(prompts)
        ids = [gen.encode(r)[0] for r in reqs]
        params = SamplingParams(max_tokens=max_tokens, ignore_eos=True)
        vparams = VSamplingParams(max_tokens=max_tokens, ignore_eos=True, temperature=0.0, seed=0)
        inputs = [{"prompt_token_ids": x} for x in ids]
        gen.llm.generate(inputs[:4], vparams, use_tqdm=False)  # warm-up
        bare, wrapped = float("inf"), float("inf")
        tokens = prompts * max_tokens
        for _ in range(repeats):
            t0 = time.perf_counter()
            outs = gen.llm.generate(inputs, vparams, use_tqdm=False)
            bare = min(bare, time.perf_counter() - t0)
            assert sum(len(o.outputs[0].token_ids) for o in outs) == tokens
            t0 = time.perf_counter()
            got = sum(r.completion_tokens for r in gen.generate(iter(reqs), params))
            wrapped = min(wrapped, time.perf_counter() - t0)
            assert got == tokens, (got, tokens)
        return _summary(
            bare, wrapped, tokens, engine="vllm", model=model, prompts=prompts, max_tokens=max_tokens
        )
    finally:
        gen.close()


async def _bare_openai(
    base_url: str, model: str, reqs: list[GenerationRequest], max_tokens: int, c: int
) -> int:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=600)
    sem = asyncio.Semaphore(c)

    async def one(r: GenerationRequest) -> int:
        async with sem:
            resp = await client.chat.completions.create(
                model=model, messages=[dict(m) for m in r.messages or ()], max_tokens=max_tokens,
                temperature=0.0, extra_body={"ignore_eos": True},
            )
        return int(resp.usage.completion_tokens)

    try:
        return sum(await asyncio.gather(*(one(r) for r in reqs)))
    finally:
        await client.close()


def bench_openai(
    base_url: str | None = None,
    model: str = "smollm2-135m",
    prompts: int = 64,
    max_tokens: int = 32,
    concurrency: int = 8,
    repeats: int = 2,
) -> dict[str, Any]:
    from backends.openai_compat import OpenAICompatGenerator

    server = None
    if base_url is None:
        from backends.server import start_vllm_server

        server = start_vllm_server(model)
        base_url, model = server.base_url, server.model
    try:
        reqs = make_requests(prompts)
        params = SamplingParams(max_tokens=max_tokens, ignore_eos=True)
        asyncio.run(_bare_openai(base_url, model, reqs[:4], max_tokens, concurrency))  # warm-up
        bare, wrapped = float("inf"), float("inf")
        tokens = prompts * max_tokens
        with OpenAICompatGenerator(base_url, model, concurrency=concurrency, timeout=600) as gen:
            for _ in range(repeats):
                t0 = time.perf_counter()
                got = asyncio.run(_bare_openai(base_url, model, reqs, max_tokens, concurrency))
                bare = min(bare, time.perf_counter() - t0)
                assert got == tokens, (got, tokens)
                t0 = time.perf_counter()
                got = sum(r.completion_tokens for r in gen.generate(iter(reqs), params))
                wrapped = min(wrapped, time.perf_counter() - t0)
                assert got == tokens, (got, tokens)
        return _summary(
            bare, wrapped, tokens, engine="openai_compat", model=model, prompts=prompts,
            max_tokens=max_tokens, concurrency=concurrency,
            server_startup_s=server.startup_s if server else None,
        )
    finally:
        if server is not None:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", choices=["vllm", "openai"])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.which == "vllm":
        res = bench_vllm(args.model, args.prompts, args.max_tokens, args.repeats)
    else:
        res = bench_openai(
            args.base_url, args.model, args.prompts, args.max_tokens, args.concurrency, args.repeats
        )
    if args.json:
        print(json.dumps(res))
    else:
        label = "VLLMGenerator" if args.which == "vllm" else f"OpenAICompatGenerator (C={args.concurrency})"
        print(f"bare:    {res['bare_tok_s']:>9.1f} tok/s  ({res['bare_s']} s, {res['tokens']} tokens)")
        print(f"wrapped: {res['wrapped_tok_s']:>9.1f} tok/s  ({res['wrapped_s']} s)  [{label}]")
        print(f"ratio wrapped/bare: {res['ratio']}")
    return 0


if __name__ == "__main__":  # vLLM spawns processes: keep the guard
    sys.exit(main())
