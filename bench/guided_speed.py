"""Guided decoding throughput against the ideal and against the reference's loop, in one run.

    python bench/guided_speed.py                       # CPU: embedded base, embedded oracle + a ~4x random oracle
    python bench/guided_speed.py --device cuda --engine vllm --batch 64 --base BASE --oracle ORACLE

For each oracle, with the `always` policy (base and oracle alternate, every row consults c times), c=20, k=10,
step 10 and fixed-length answers (EOS ignored):
- guided: one batched `GuidedLoop` over all prompts (hf: KV caches kept; vllm: prefix caching), no statistics
  during the run (`stats = "none"`; the `always` policy reads none); `+ stats`: the same with the base's
  statistics at every position (`stats = "during"`, hf);
- ideal: plain batched generation, same engine, of the same number of base tokens by the base model plus the same
  number of oracle tokens by the oracle (no hand-overs): guided / ideal throughput is the overhead (goal >= 0.7);
- reference: the reference implementation's loop, one prompt at a time over HTTP, re-sending the whole text at
  every step to a base server and an oracle server on 127.0.0.1 (`--reference-server hf`: the minimal hf server,
  no prefix cache; `vllm`: two `vllm serve`), timed on `--reference-prompts` prompts and scaled to the batch
  (it is sequential, so its time is linear in the prompts): guided / reference (goal >= 10x).
vllm times three schedules on the same engines (`--schedules`, the first is the headline): lockstep (each call's
batch admitted at once), pipelined (every row on its own) and ungated (lockstep, requests added one by one as
`LLM.generate` does); each prints its profile (per engine call: time to add the batch, steps, time to the first
output; hf: forward calls), and `loop_s` is the loop's own time between calls.
`--big-oracle auto` builds a random-weight Llama with the base's tokenizer, about 4x the embedded model.
hf models run with `backends.sdpa_gqa` attention (guided and ideal alike; `bench/sdpa_gqa.py` times it against
transformers' stock `sdpa`). With oracle == base the oracle shares the base's session (one model, one KV cache, as
the guided stage does); `--no-share` times two separate sessions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.guided.session import GuidedLoop, GuidedParams  # noqa: E402


class AlwaysPolicy:
    needs_stats, oracle_only = False, False

    def consult(self, view: Any) -> bool:
        return True


def prompts(n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"Explain step by step how to add {i * 7} and {i * 13 + 5}."}]
            for i in range(n)]


def big_oracle(base: str, out: Path) -> str:
    """A random Llama (~0.5B, 4x SmolLM2-135M) that shares the base's tokenizer."""
    if (out / "config.json").exists():
        return str(out)
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from backends.embedded import resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model(base))
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=1024, intermediate_size=2816, num_hidden_layers=32,
                      num_attention_heads=16, num_key_value_heads=4, tie_word_embeddings=True,
                      max_position_embeddings=4096, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def open_sessions(engine: str, base: str, oracle: str, device: str, vllm_args: dict[str, Any],
                  share: bool = True) -> tuple[Any, Any]:
    if engine == "hf":
        from backends.guided.hf_session import HFSession, SameModelOracle

        b = HFSession(base, device=device)
        return b, (SameModelOracle(b) if share and oracle == base else HFSession(oracle, device=device))
    from backends.guided.served_session import VLLMSession

    b = VLLMSession(base, **{"gpu_memory_utilization": 0.35, **vllm_args})
    return b, (VLLMSession(oracle, share=b) if oracle == base
               else VLLMSession(oracle, **{"gpu_memory_utilization": 0.5, **vllm_args}))


def engine_calls(*sessions: Any) -> dict[str, Any]:
    """Per-session counters: vLLM driver stats (calls, engine steps, add / first-output seconds), hf forwards."""
    out: dict[str, Any] = {}
    drivers = [getattr(s, "driver", None) for s in sessions]
    for name, s, driver in zip(("base", "oracle"), sessions, drivers, strict=True):
        if driver is not None and name == "oracle" and driver is drivers[0]:
            out = {"shared engine": out["base"]}
        elif driver is not None:
            out[name] = driver.stats.as_dict()
        elif hasattr(s, "forward_calls"):
            out[name] = {"forwards": s.forward_calls}
    return out


def call_profile(before: dict[str, Any], after: dict[str, Any], loop: GuidedLoop, wall: float) -> dict[str, Any]:
    """Where one guided run's time went: inside each model's calls, and the loop's own work between them."""
    t = loop.timings
    prof: dict[str, Any] = {"base_s": round(t.base_s, 3), "oracle_s": round(t.oracle_s, 3),
                            "loop_s": round(wall - t.base_s - t.oracle_s, 3)}
    for name in after:
        a, b = after[name], before.get(name, {})
        delta = {k: a[k] - b.get(k, 0) for k in a}
        if delta.get("calls"):
            n = delta["calls"]
            delta = {"calls": n, "steps_per_call": round(delta["steps"] / n, 2),
                     "rows_per_call": round(delta["rows"] / n, 1), "add_ms": round(1000 * delta["add_s"] / n, 2),
                     "first_out_ms": round(1000 * delta["first_s"] / n, 2),
                     "call_ms": round(1000 * delta["total_s"] / n, 2)}
        prof[name] = delta
    return prof


def set_gate(sessions: tuple[Any, ...], on: bool) -> None:
    for s in sessions:
        driver = getattr(s, "driver", None)
        if driver is not None:
            driver.gate = on


def engine_config(session: Any) -> dict[str, Any]:
    """What the vLLM engine really runs with (it overrides settings it cannot honour, e.g. CUDA graph modes)."""
    try:
        cfg = session.llm.llm_engine.vllm_config
        cc = cfg.compilation_config
        return {"enforce_eager": cfg.model_config.enforce_eager, "cudagraph_mode": str(cc.cudagraph_mode),
                "compile_mode": str(getattr(cc, "mode", getattr(cc, "level", None))),
                "prefix_hash": str(getattr(cfg.cache_config, "prefix_caching_hash_algo", None)),
                "max_num_batched_tokens": cfg.scheduler_config.max_num_batched_tokens}
    except Exception as exc:  # noqa: BLE001 - a report field only
        return {"error": str(exc)}


def ideal_seconds(session: Any, engine: str, batch: list[Any], tokens: int) -> float:
    """Plain batched generation of `tokens` per prompt, same engine, fixed length."""
    if tokens <= 0:
        return 0.0
    ids = [session.render(p) for p in batch]
    if engine == "vllm":
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=tokens, ignore_eos=True, temperature=0.0)
        started = time.perf_counter()
        session.llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=False)
        return time.perf_counter() - started
    import torch

    width = max(len(x) for x in ids)
    pad = session.pad_id
    input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], device=session.device)
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=session.device)
    started = time.perf_counter()
    with torch.no_grad():
        session.model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=tokens,
                               min_new_tokens=tokens, do_sample=False, pad_token_id=pad)
    if session.device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started


def reference_loop(base_url: str, oracle_url: str, tokenizer: Any, prompt: Any, params: GuidedParams,
                   base_model: str, oracle_model: str) -> int:
    """The reference: text in, text out, the whole text re-sent at every step; returns tokens generated."""
    import httpx

    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    generated, used = 0, 0
    with httpx.Client(timeout=600) as client:
        def complete(url: str, model: str, n: int) -> tuple[str, int]:
            body = {"model": model, "prompt": text, "max_tokens": n, "temperature": 0.0, "ignore_eos": True}
            choice = client.post(f"{url}/completions", json=body).json()
            return choice["choices"][0]["text"], int(choice["usage"]["completion_tokens"])

        while generated < params.max_new_tokens:
            piece, n = complete(base_url, base_model, min(params.step_size, params.max_new_tokens - generated))
            text, generated = text + piece, generated + n
            if used < params.c and generated < params.max_new_tokens:
                piece, n = complete(oracle_url, oracle_model, min(params.k, params.max_new_tokens - generated))
                text, generated, used = text + piece, generated + n, used + 1
    return generated


def start_servers(kind: str, base: str, oracle: str, device: str) -> tuple[Any, Any, str, str]:
    if kind == "hf":
        from backends.hf_server import HFCompletionServer

        b = HFCompletionServer(base, device=device)
        o = b if oracle == base else HFCompletionServer(oracle, device=device)
        return b, o, b.base_url, o.base_url
    from backends.server import start_vllm_server

    b = start_vllm_server(base, extra_args=["--gpu-memory-utilization", "0.3"])
    o = b if oracle == base else start_vllm_server(oracle, extra_args=["--gpu-memory-utilization", "0.45"])
    return b, o, b.base_url, o.base_url


def bench_pair(args: argparse.Namespace, oracle: str) -> dict[str, Any]:
    params = GuidedParams(c=args.c, k=args.k, step_size=args.step, max_new_tokens=args.max_new_tokens,
                          ignore_eos=True, token_stats=False, boundary_stats=False)
    batch = prompts(args.batch)
    base_s, oracle_s = open_sessions(args.engine, args.base, oracle, args.device, json.loads(args.vllm_args),
                                     share=args.share)
    GuidedLoop(base_s, oracle_s, AlwaysPolicy(), GuidedParams(c=1, k=2, step_size=2, max_new_tokens=6,
                                                              ignore_eos=True)).run(batch[:2])  # warm-up
    # vllm: the pipelined schedule (rows move on their own), lockstep with each batch admitted at once, and
    # lockstep with requests added one by one as `LLM.generate` does; hf: lockstep (one process, one model call
    # at a time). Each round runs every schedule, then the ideal; the best of each is kept (a shared box is noisy).
    schedules = args.schedules.split(",") if args.engine == "vllm" else ["lockstep"]
    best = {name: float("inf") for name in schedules}
    profiles: dict[str, Any] = {}
    ideal_s = float("inf")
    for _ in range(args.rounds):
        for name in schedules:
            set_gate((base_s, oracle_s), name != "ungated")
            round_loop = GuidedLoop(base_s, oracle_s, AlwaysPolicy(), replace(params, pipelined=name == "pipelined"))
            before = engine_calls(base_s, oracle_s)
            started = time.perf_counter()
            seqs = round_loop.run(batch)
            elapsed = time.perf_counter() - started
            if elapsed < best[name]:
                best[name] = elapsed
                profiles[name] = call_profile(before, engine_calls(base_s, oracle_s), round_loop, elapsed)
                if name == schedules[0]:
                    loop = round_loop
        set_gate((base_s, oracle_s), True)
        base_tokens = sum(s.base_tokens for s in seqs)
        oracle_tokens = sum(s.oracle_tokens for s in seqs)
        ideal_s = min(ideal_s, ideal_seconds(base_s, args.engine, batch, base_tokens // len(batch))
                      + ideal_seconds(getattr(oracle_s, "shares", oracle_s), args.engine, batch,
                                      oracle_tokens // len(batch)))
    guided_s = best[schedules[0]]
    tokens = base_tokens + oracle_tokens
    stats_s = None
    if args.token_stats and args.engine == "hf":  # the same run with the base's statistics at every position
        loop_stats = GuidedLoop(base_s, oracle_s, AlwaysPolicy(), replace(params, token_stats=True,
                                                                          boundary_stats=True))
        started = time.perf_counter()
        loop_stats.run(batch)
        stats_s = time.perf_counter() - started
    result: dict[str, Any] = {
        "engine": args.engine, "device": args.device, "rounds": args.rounds, "base": args.base, "oracle": oracle,
        "prompts": len(batch),
        "c": args.c, "k": args.k, "step": args.step, "max_new_tokens": args.max_new_tokens,
        "base_tokens": base_tokens, "oracle_tokens": oracle_tokens,
        "shared_session": getattr(oracle_s, "shares", None) is base_s,
        "guided_s": round(guided_s, 2), "guided_tok_s": round(tokens / guided_s, 1),
        "guided_base_s": round(loop.timings.base_s, 2), "guided_oracle_s": round(loop.timings.oracle_s, 2),
        "ideal_s": round(ideal_s, 2), "ideal_tok_s": round(tokens / ideal_s, 1),
        "vs_ideal": round(ideal_s / guided_s, 3),
    }
    result["schedule"] = schedules[0]
    result["schedules"] = {name: {"s": round(best[name], 2), "vs_ideal": round(ideal_s / best[name], 3),
                                  "profile": profiles.get(name, {})} for name in schedules}
    if args.engine == "vllm":
        result["engine_config"] = engine_config(base_s)
    if stats_s is not None:
        result.update(guided_stats_s=round(stats_s, 2), guided_stats_tok_s=round(tokens / stats_s, 1),
                      stats_vs_ideal=round(ideal_s / stats_s, 3))
    for s in (base_s, oracle_s):
        getattr(s, "close", lambda: None)()
    if args.reference_prompts > 0:
        servers = start_servers(args.reference_server, args.base, oracle, args.device)
        try:
            tok = base_s.tokenizer
            started = time.perf_counter()
            ref_tokens = sum(reference_loop(servers[2], servers[3], tok, p, params, args.base, oracle)
                             for p in batch[:args.reference_prompts])
            ref_s = (time.perf_counter() - started) * len(batch) / args.reference_prompts
        finally:
            for server in {id(s): s for s in servers[:2]}.values():
                server.stop()
        result.update(reference_server=args.reference_server, reference_prompts=args.reference_prompts,
                      reference_s_scaled=round(ref_s, 2),
                      reference_tok_s=round(ref_tokens * len(batch) / args.reference_prompts / ref_s, 1),
                      vs_reference=round(ref_s / guided_s, 2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--engine", choices=["hf", "vllm"], default="hf")
    parser.add_argument("--base", default="smollm2-135m")
    parser.add_argument("--oracle", default="smollm2-135m")
    parser.add_argument("--big-oracle", default="auto",
                        help="auto (build a ~4x random Llama), only (just that one), a path, or none")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--c", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--step", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=400, help="400 = the whole budget c*k + c*step")
    parser.add_argument("--rounds", type=int, default=1, help="guided and ideal alternate N times, best kept")
    parser.add_argument("--reference-prompts", type=int, default=2, help="0 skips the reference loop")
    parser.add_argument("--reference-server", choices=["hf", "vllm"], default="hf")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--token-stats", action=argparse.BooleanOptionalAction, default=True,
                        help="also time a run with the base's statistics at every position (stats = during)")
    parser.add_argument("--vllm-args", default="{}", help='JSON engine kwargs of both vLLM sessions, e.g. '
                        '\'{"enforce_eager": true}\'')
    parser.add_argument("--share", action=argparse.BooleanOptionalAction, default=True,
                        help="hf, oracle == base: one model and one KV cache for both, as the guided stage does "
                             "(--no-share: two sessions that each encode the other's segments)")
    parser.add_argument("--schedules", default="lockstep,pipelined,ungated",
                        help="vllm: the guided schedules to time, the first is the headline: pipelined (rows move "
                             "on their own), lockstep (each call's batch admitted at once), ungated (lockstep, "
                             "requests added one by one as LLM.generate does)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--trace", type=int, default=0, help="dump stacks every N s (diagnosing a slow run)")
    args = parser.parse_args()
    if args.trace:
        import faulthandler

        faulthandler.dump_traceback_later(args.trace, repeat=True)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    oracles = [] if args.big_oracle == "only" else [args.oracle]
    if args.big_oracle in ("auto", "only"):
        from backends.embedded import cache_dir

        oracles.append(big_oracle(args.base, cache_dir() / "bench" / "random-llama-0.4b"))
    elif args.big_oracle != "none":
        oracles.append(args.big_oracle)
    for oracle in oracles:
        r = bench_pair(args, oracle)
        if args.json:
            print(json.dumps(r))
            continue
        print(f"\n{r['engine']} on {r['device']}: base {r['base']}, oracle {r['oracle']}, {r['prompts']} prompts, "
              f"c={r['c']} k={r['k']} step={r['step']}, {r['base_tokens']} base + {r['oracle_tokens']} oracle tokens"
              + (", oracle shares the base's session" if r["shared_session"] else "")
              + (f", best of {r['rounds']} rounds" if r["rounds"] > 1 else ""))
        print(f"  guided     {r['guided_s']:8.2f} s  {r['guided_tok_s']:8.1f} tok/s  (base {r['guided_base_s']} s, "
              f"oracle {r['guided_oracle_s']} s)")
        if "guided_stats_s" in r:
            print(f"  + stats    {r['guided_stats_s']:8.2f} s  {r['guided_stats_tok_s']:8.1f} tok/s  (statistics at "
                  f"every position) -> guided/ideal {r['stats_vs_ideal']}")
        print(f"  ideal      {r['ideal_s']:8.2f} s  {r['ideal_tok_s']:8.1f} tok/s  -> guided/ideal {r['vs_ideal']}"
              f"  ({r['schedule']} schedule)")
        for name, sched in r["schedules"].items():
            print(f"  {name:<10} {sched['s']:8.2f} s  -> guided/ideal {sched['vs_ideal']}  "
                  f"profile {json.dumps(sched['profile'])}")
        if "engine_config" in r:
            print(f"  engine     {json.dumps(r['engine_config'])}")
        if "vs_reference" in r:
            print(f"  reference  {r['reference_s_scaled']:8.2f} s  {r['reference_tok_s']:8.1f} tok/s "
                  f"({r['reference_prompts']} prompts scaled)  -> guided/reference {r['vs_reference']}x")


if __name__ == "__main__":
    main()
