"""Two GPUs of one host: data parallel (one worker per GPU) against one GPU on the same prompts, tensor parallel 2
through vLLM, and one worker killed mid-run then resumed. Prints a table last; events stay in the run folders.

Throughput is measured over the generation phase of each run, from its own events: completion tokens of all
records / (last chunk written - first engine ready), so engine start-up (compile, graph capture) is left out
equally on both sides. Usage (GPU host, after setup_host.sh):
    python3 bench/gpu/multi_gpu.py --model /tmp/models/qwen2.5-0.5b [--engine vllm] [--prompts 2048]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITE = Path("/tmp/site")  # where bench/gpu/setup_host.sh installs the offline bundles
sys.path[:0] = [str(ROOT), str(ROOT / "bench")] + ([str(SITE)] if SITE.is_dir() else [])
if SITE.is_dir():  # the run's worker processes need it too
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(SITE), os.environ.get("PYTHONPATH")]))


def spec_for(data: Path, model: str, engine: str, gpus: list[int], tp: int, max_tokens: int, options: dict,
             chunk_size: int):
    from experiments.datasets.base import DatasetSpec
    from experiments.specs import BackendSpec, SamplingSpec
    from experiments.stages.inference.spec import InferenceSpec

    return InferenceSpec(dataset=DatasetSpec(source=str(data), template="plain", domain="gsm8k"), model=model,
                         backend=BackendSpec(kind=engine, options=options), chunk_size=chunk_size, gpus=gpus,
                         tensor_parallel=tp, sampling=SamplingSpec(max_tokens=max_tokens, ignore_eos=True))


def generation_tps(run_id: str, home: Path) -> tuple[float, int]:
    """Steady-state tokens/s: per worker, the tokens of its chunks after its first one over the time between its
    first and last chunk (engine start and the first chunk's warm-up left out, equally for 1 and N workers),
    summed over workers."""
    from experiments.runs.store import RunStore

    store = RunStore.open(run_id, home)
    events = [json.loads(line) for line in store.events_path.read_text().splitlines()]
    chunk_tokens: dict[int, int] = {}
    for index in store.done_chunks():
        chunk_tokens[index] = sum(int(r.get("completion_tokens", 0)) for r in store.read_chunk(index))
    by_worker: dict[int, list[tuple[float, int]]] = {}
    for e in events:
        if e["type"] == "chunk" and e["action"] == "computed":
            by_worker.setdefault(e.get("worker", 0), []).append((e["ts"], e["index"]))
    rate = 0.0
    for rows in by_worker.values():
        rows.sort()
        if len(rows) > 1:
            rate += sum(chunk_tokens.get(i, 0) for _, i in rows[1:]) / max(1e-9, rows[-1][0] - rows[0][0])
    return rate, sum(chunk_tokens.values())


def run(spec, home: Path, label: str, rows: list) -> str:  # noqa: ANN001
    from experiments import api

    start = time.perf_counter()
    run_id = api.launch(spec, home)
    status = api.wait(run_id, home, timeout=540)
    wall = time.perf_counter() - start
    tps, tokens = generation_tps(run_id, home) if status == "done" else (float("nan"), 0)
    rows.append((label, status, tokens, tps, wall))
    print(f"{label}: {status}, {tokens} tokens, {tps:.1f} tok/s (generation), wall {wall:.1f}s", flush=True)
    return run_id


def kill_and_resume(spec, home: Path, rows: list) -> None:  # noqa: ANN001
    from experiments import api
    from experiments.runs.store import RunStore

    run_id = api.launch(spec, home)
    store = RunStore.open(run_id, home)
    deadline = time.monotonic() + 400
    while len(store.done_chunks()) < max(1, store.manifest().get("counts", {}).get("chunks_total", 8) // 4) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    victim = store.manifest()["pids"][1]
    os.killpg(victim, signal.SIGKILL)
    while store.effective_status() in ("running", "queued") and time.monotonic() < deadline:
        time.sleep(0.5)
    before = len(store.done_chunks())
    interrupted = store.effective_status()
    api.resume(run_id, home)
    status = api.wait(run_id, home, timeout=400)
    records = store.records()
    unique = len({(r["example_id"], r["sample_idx"]) for r in records})
    total = store.manifest()["counts"]["examples"]
    rows.append((f"kill worker 1 -> {interrupted}, resume", status, unique, float("nan"), float("nan")))
    print(f"kill+resume: {interrupted} with {before} chunks, then {status}: {unique}/{total} unique records, "
          f"{len(records)} records", flush=True)


def main() -> None:
    from inference_overhead import gsm8k_questions, write_dataset

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--engine", default="vllm", choices=["vllm", "hf"])
    parser.add_argument("--prompts", type=int, default=2048)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--skip", default="", help="comma list of: one,dp2,tp2,kill")
    parser.add_argument("--vllm-args", default="{}", help="JSON engine options for vLLM, e.g. enforce_eager")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    parser_vllm = json.loads(args.vllm_args)
    options = {"gpu_memory_utilization": 0.6, **parser_vllm} if args.engine == "vllm" else {"batch_size": 64}
    rows: list = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        data = write_dataset(gsm8k_questions(args.prompts), Path(tmp))
        chunk = max(4, args.prompts // 32)
        mk = lambda gpus, tp=1: spec_for(data, args.model, args.engine, gpus, tp, args.max_tokens, options, chunk)  # noqa: E731,E501
        if "one" not in skip:
            run(mk([0]), home, "1 GPU", rows)
        if "dp2" not in skip:
            run(mk([0, 1]), home, "data_parallel 2 GPUs", rows)
        if "tp2" not in skip and args.engine == "vllm":
            run(mk([0, 1], tp=2), home, "tensor_parallel 2", rows)
        if "kill" not in skip:
            kill_and_resume(mk([0, 1]), home, rows)
    import torch

    device = f"{torch.cuda.get_device_name(0)} x {torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu"
    print(f"\ndevice: {device}, model {args.model}, "
          f"engine {args.engine}, {args.prompts} prompts x {args.max_tokens} tokens")
    print(f"{'run':<34} {'status':<8} {'tokens':>9} {'gen tok/s':>10} {'wall s':>7}")
    for label, status, tokens, tps, wall in rows:
        print(f"{label:<34} {status:<8} {tokens:>9} {tps:>10.1f} {wall:>7.1f}")
    by = {r[0]: r for r in rows}
    if "1 GPU" in by and "data_parallel 2 GPUs" in by:
        print(f"data parallel speed-up: {by['data_parallel 2 GPUs'][3] / by['1 GPU'][3]:.2f}x (goal >= 1.8)")


if __name__ == "__main__":
    main()
