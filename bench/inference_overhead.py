"""Overhead of a full confconsole inference run against the bare engine, measured in one process run.

For each backend the same prompts (GSM8K questions, chat template applied, fixed output length via ignore_eos)
go through (a) the bare engine call — `model.generate` in batches for transformers, `LLM.generate` for vLLM —
and (b) a full `confconsole` inference run (worker process, store, events, chunks). Printed: output tokens/s of
each side over the generation phase, the ratio (goal >= 0.95), and the run's wall time including worker start
and model load. `--judge` adds the judge path: `OpenAICompatGenerator` at concurrency C vs a bare asyncio
`openai` loop at the same C against one local vLLM server (goal >= 0.9).

Usage: python bench/inference_overhead.py [--backends hf,vllm] [--model smollm2-135m] [--prompts 32]
       [--max-tokens 64] [--batch-size 16] [--judge --concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def gsm8k_questions(count: int) -> list[str]:
    path = ROOT / "bench" / "data" / "questions.jsonl"
    if path.exists():
        rows = [json.loads(line)["question"] for line in path.read_text().splitlines()]
    else:
        from experiments.datasets import DatasetSpec, load_examples

        rows = [e.question for e in load_examples(DatasetSpec(source="gsm8k", limit=count)).examples]
    return [rows[i % len(rows)] for i in range(count)]


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def write_dataset(questions: list[str], folder: Path) -> Path:
    path = folder / "bench.jsonl"
    path.write_text("".join(json.dumps({"question": q, "answer": "0"}) + "\n" for q in questions))
    return path


def chat_messages(question: str) -> tuple[dict[str, str], ...]:
    from experiments.datasets.base import Example
    from experiments.prompts import render_messages

    return render_messages(Example(example_id="x", index=0, question=question, gold="0"), "plain")


def bare_hf(model: str, questions: list[str], max_tokens: int, batch_size: int) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from backends.embedded import resolve_model

    path = resolve_model(model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    tok.pad_token = tok.pad_token or tok.eos_token
    lm = AutoModelForCausalLM.from_pretrained(path, dtype="auto").to(device).eval()
    texts = [tok.apply_chat_template(list(chat_messages(q)), tokenize=False, add_generation_prompt=True)
             for q in questions]
    generated, start = 0, time.perf_counter()
    for i in range(0, len(texts), batch_size):
        enc = tok(texts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        with torch.inference_mode():
            out = lm.generate(**enc, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=False,
                              pad_token_id=tok.pad_token_id)
        generated += (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0]
    if device == "cuda":
        torch.cuda.synchronize()
    return generated / (time.perf_counter() - start)


def bare_vllm(model: str, questions: list[str], max_tokens: int, engine_kwargs: dict) -> dict[str, float]:
    """The bare engine three ways, one engine, prefix cache emptied between them (tokens/s of each):

    - `stream`: the same window and the same work as a run: the clock starts before the first chat template,
      prompts are templated and tokenized here and added to `llm.llm_engine` in slices of 64 between engine steps
      (templating overlaps generation, as the run's engine wrapper does), until the last output;
    - `ids`: templating and tokenization done before the clock, then one `LLM.generate` on token ids (the engine
      alone: the run's window holds more work than this one, so run / ids is a lower bound);
    - `chat`: one `LLM.chat` call (vLLM renders every conversation before the engine starts).
    """
    from vllm import LLM, SamplingParams
    from vllm.sampling_params import RequestOutputKind

    from backends.embedded import resolve_model
    from backends.vllm_engine import apply_cpu_env_defaults

    apply_cpu_env_defaults(os.environ)
    llm = LLM(model=resolve_model(model), **engine_kwargs)
    tok = llm.get_tokenizer()
    conversations = [list(chat_messages(q)) for q in questions]
    params = SamplingParams(max_tokens=max_tokens, ignore_eos=True, temperature=0)

    def render(conv: list[dict[str, str]]) -> list[int]:
        return tok.encode(tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True),
                          add_special_tokens=False)

    def stream(engine: Any) -> int:
        final = params.clone()
        final.output_kind = RequestOutputKind.FINAL_ONLY
        fed, tokens, pending = 0, 0, 0
        while fed < len(conversations) or pending:
            for conv in conversations[fed:fed + 64]:
                engine.add_request(f"bare{fed}", {"prompt_token_ids": render(conv)}, final)
                fed, pending = fed + 1, pending + 1
            for out in engine.step():
                if out.finished:
                    tokens, pending = tokens + len(out.outputs[0].token_ids), pending - 1
        return tokens

    result: dict[str, float] = {}
    start = time.perf_counter()
    tokens = stream(llm.llm_engine)
    result["stream"] = tokens / (time.perf_counter() - start)
    llm.reset_prefix_cache()
    ids = [render(c) for c in conversations]
    start = time.perf_counter()
    outs = llm.generate([{"prompt_token_ids": i} for i in ids], params, use_tqdm=False)
    result["ids"] = sum(len(c.token_ids) for o in outs for c in o.outputs) / (time.perf_counter() - start)
    llm.reset_prefix_cache()
    start = time.perf_counter()
    outs = llm.chat(conversations, params, use_tqdm=False)
    result["chat"] = sum(len(c.token_ids) for o in outs for c in o.outputs) / (time.perf_counter() - start)
    assert tokens == len(questions) * max_tokens, (tokens, len(questions) * max_tokens)
    del llm
    return result


def full_run(backend: str, model: str, data: Path, max_tokens: int, options: dict, home: Path,
             chunk_size: int) -> tuple[float, float]:
    """Returns (generation-phase tokens/s from the run's own metric, wall seconds including startup)."""
    from experiments import api
    from experiments.datasets.base import DatasetSpec
    from experiments.runs.state import load_state
    from experiments.runs.store import RunStore
    from experiments.specs import BackendSpec, SamplingSpec
    from experiments.stages.inference.spec import InferenceSpec

    spec = InferenceSpec(dataset=DatasetSpec(source=str(data), template="plain", domain="gsm8k"), model=model,
                         backend=BackendSpec(kind=backend, options=options), chunk_size=chunk_size,
                         sampling=SamplingSpec(max_tokens=max_tokens, ignore_eos=True))
    start = time.perf_counter()
    run_id = api.launch(spec, home)
    status = api.wait(run_id, home, timeout=3600)
    wall = time.perf_counter() - start
    store = RunStore.open(run_id, home)
    if status != "done":
        raise RuntimeError(f"{backend} run {status}: {store.log_path.read_text()[-3000:]}")
    return load_state(store.events_path).latest_metric("tokens_per_s") or 0.0, wall


def judge_path(model: str, questions: list[str], max_tokens: int, concurrency: int) -> tuple[float, float]:
    import asyncio

    from openai import AsyncOpenAI

    from backends.base import GenerationRequest, SamplingParams
    from backends.openai_compat import OpenAICompatGenerator
    from backends.server import start_vllm_server

    with start_vllm_server(model) as server:
        async def bare() -> float:
            client = AsyncOpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
            sem = asyncio.Semaphore(concurrency)

            async def one(q: str) -> int:
                async with sem:
                    r = await client.chat.completions.create(
                        model=server.model, messages=list(chat_messages(q)), max_tokens=max_tokens,
                        temperature=0, extra_body={"ignore_eos": True})
                    return r.usage.completion_tokens

            t = time.perf_counter()
            tokens = sum(await asyncio.gather(*(one(q) for q in questions)))
            return tokens / (time.perf_counter() - t)

        asyncio.run(bare())  # warm-up
        bare_tps = asyncio.run(bare())
        gen = OpenAICompatGenerator(base_url=server.base_url, model=server.model, concurrency=concurrency)
        reqs = [GenerationRequest(key=i, messages=chat_messages(q)) for i, q in enumerate(questions)]
        t = time.perf_counter()
        tokens = sum(r.completion_tokens for r in gen.generate(reqs, SamplingParams(max_tokens=max_tokens,
                                                                                     ignore_eos=True)))
        ours = tokens / (time.perf_counter() - t)
        gen.close()
    return bare_tps, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="hf")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--chunk-size", type=int, default=8)
    parser.add_argument("--vllm-args", default="{}", help="JSON engine kwargs for vLLM (both sides)")
    parser.add_argument("--judge", action="store_true")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sides", default="bare,run", help="bare, run or both (each can run in its own process)")
    parser.add_argument("--home", default=None, help="run store for the confconsole side (default: a temp dir)")
    args = parser.parse_args()
    questions = gsm8k_questions(args.prompts)
    vllm_kwargs = json.loads(args.vllm_args)
    if not cuda_available():  # both sides get the CPU engine settings the vllm backend uses there
        vllm_kwargs = {"dtype": "float32", "enforce_eager": True, **vllm_kwargs}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = write_dataset(questions, Path(tmp))
        sides = args.sides.split(",")
        home = Path(args.home) if args.home else Path(tmp) / "home"
        for backend in args.backends.split(","):
            bare = run_tps = wall = float("nan")
            options = {"batch_size": args.batch_size} if backend == "hf" else dict(vllm_kwargs)
            if "bare" in sides:
                if backend == "hf":
                    bare = bare_hf(args.model, questions, args.max_tokens, args.batch_size)
                else:
                    ways = bare_vllm(args.model, questions, args.max_tokens, vllm_kwargs)
                    bare = ways["stream"]
                    print(f"{backend}: bare ways " + ", ".join(f"{k} {v:.1f} tok/s" for k, v in ways.items()),
                          flush=True)
                print(f"{backend}: bare {bare:.1f} tok/s", flush=True)
            if "run" in sides:
                run_tps, wall = full_run(backend, args.model, data, args.max_tokens, options, home, args.chunk_size)
            rows.append((backend, bare, run_tps, wall))
            print(f"{backend}: bare {bare:.1f} tok/s, run {run_tps:.1f} tok/s, ratio {run_tps / bare:.3f}, "
                  f"run wall {wall:.1f}s", flush=True)
        if args.judge:
            bare, ours = judge_path(args.model, questions, args.max_tokens, args.concurrency)
            rows.append((f"openai_compat@C={args.concurrency}", bare, ours, float("nan")))
    print(f"\nmodel {args.model}, {args.prompts} prompts x {args.max_tokens} output tokens (ignore_eos)")
    print(f"{'path':<24} {'bare tok/s':>11} {'confconsole tok/s':>18} {'ratio':>7} {'run wall s':>11}")
    for name, bare, ours, wall in rows:
        print(f"{name:<24} {bare:>11.1f} {ours:>18.1f} {ours / bare:>7.3f} {wall:>11.1f}")
    by = {r[0]: r for r in rows}
    if "hf" in by and "vllm" in by:
        print(f"vllm run / hf run: {by['vllm'][2] / by['hf'][2]:.1f}x")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # vLLM's engine teardown can take minutes; the numbers are printed
