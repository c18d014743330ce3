"""SFT throughput: the confconsole sft stage (in-process `run(spec, ctx)`: TRL SFTTrainer, callbacks, events) vs a
bare torch loop over the same batches with the same peft model; adapter size and peak memory.

Each side runs in its own process (`--side stage|bare`), so peak memory is its own (RSS high-water mark on CPU,
`torch.cuda.max_memory_allocated` on GPU). Steps/s is timed from the end of warm-up step W to the last step N, from
the stage's per-step loss events and the bare loop's own clock; tokens/s uses the non-pad tokens of those steps
(the same batches on both sides: same seed, same sampler, TRL's own collator).

    python bench/sft_speed.py [--model smollm2-135m] [--device cpu|cuda] [--steps 12] [--warmup 2]
                              [--batch-size 4] [--max-length 128] [--rows 64] [--precision auto] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_rows(path: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        a, b = 3 + i * 7 % 91, 5 + i * 13 % 67
        right = i % 3 != 0
        answer = a + b if right else a + b + 1
        rows.append({"prompt": f"Tom has {a} apples and buys {b} more. How many apples does he have now?",
                     "completion": f"He has {a} + {b} = {answer} apples. The answer is {answer}. "
                                   f"{'<CN_MATH>' if right else '<UN_MATH>'}"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def spec_for(args: argparse.Namespace, data: Path) -> Any:
    from experiments.stages.sft.spec import SFTSpec

    return SFTSpec(data_file=str(data), model=args.model, max_steps=args.steps, batch_size=args.batch_size,
                   max_length=args.max_length, val_fraction=0.0, save_steps=10 * args.steps, device=args.device,
                   precision=args.precision, lr=5e-5)


def peak_memory(device: str) -> dict[str, float]:
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device == "cuda":
        import torch

        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def side_stage(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The stage itself, in-process: spec -> run(spec, ctx) over a real run folder; times from its loss events."""
    from experiments.runs.context import StageContext
    from experiments.runs.emit import Emitter
    from experiments.runs.events import MetricEvent
    from experiments.runs.store import RunStore
    from experiments.specs import spec_to_toml
    from experiments.stages.sft.run import run

    spec = spec_for(args, write_rows(work / "rows.jsonl", args.rows))
    store = RunStore.create(spec_to_toml(spec), "sft", work / "home")
    emit = Emitter(store.events_path, store.run_id)
    stamps: dict[int, float] = {}
    emit.listeners.append(lambda e: stamps.__setitem__(e.step, time.perf_counter())
                          if isinstance(e, MetricEvent) and e.name == "loss" else None)
    run(spec, StageContext(store=store, emit=emit, home=work / "home"))
    adapter = store.outputs_dir / "adapter"
    seconds = stamps[args.steps] - stamps[args.warmup]
    return {"seconds": seconds, "steps": args.steps - args.warmup,
            "adapter_bytes": sum(p.stat().st_size for p in adapter.glob("adapter_model.*")),
            "adapter_dir_bytes": sum(p.stat().st_size for p in adapter.rglob("*") if p.is_file()),
            **peak_memory(args.device)}


def side_bare(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The same peft model and batches (TRL's dataloader, built once), then a plain torch loop."""
    import torch

    from backends.lora_trainer import build_trainer
    from experiments.runs.context import StageContext
    from experiments.runs.emit import Emitter
    from experiments.runs.store import RunStore
    from experiments.specs import spec_to_toml
    from experiments.stages.sft import data as sft_data
    from experiments.stages.sft.training import trainer_config

    spec = spec_for(args, write_rows(work / "rows.jsonl", args.rows))
    store = RunStore.create(spec_to_toml(spec), "sft", work / "home")
    ctx = StageContext(store=store, emit=Emitter(store.events_path, store.run_id))
    loaded = sft_data.from_file(spec.data_file)
    cfg = trainer_config(spec, ctx, sft_data.tokens_of(loaded.rows, []))
    trainer, _ = build_trainer(cfg, sft_data.trainer_rows(loaded.rows), [])
    model = trainer.model
    device = next(model.parameters()).device
    batches, loader = [], trainer.get_train_dataloader()
    while len(batches) < args.steps:
        batches += [{k: v.to(device) for k, v in b.items()} for b in loader]
    batches = batches[:args.steps]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=spec.lr)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=trainer.args.bf16)
    model.train()
    start = 0.0
    for step, batch in enumerate(batches, 1):
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step == args.warmup:
            start = time.perf_counter()
        float(loss)
    seconds = time.perf_counter() - start
    timed = batches[args.warmup:]
    return {"seconds": seconds, "steps": len(timed),
            "tokens": int(sum(int(b["attention_mask"].sum()) for b in timed)), **peak_memory(args.device)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help="alias or local HF folder")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="bare/stage pairs; the best of each side counts")
    parser.add_argument("--side", choices=["stage", "bare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        with tempfile.TemporaryDirectory() as tmp:
            fn = side_stage if args.side == "stage" else side_bare
            print("RESULT " + json.dumps(fn(args, Path(tmp))))
        return 0
    results = {}
    for side in ["bare", "stage"] * args.rounds:  # interleaved: drift on a shared machine hits both sides
        argv = [sys.executable, __file__, *sys.argv[1:], "--side", side]
        proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True)  # stderr passes through: failures show
        if proc.returncode != 0 or "RESULT " not in proc.stdout:
            sys.stderr.write(proc.stdout[-4000:])
            raise SystemExit(f"the {side} side failed (exit {proc.returncode}); its output is above")
        out = proc.stdout
        result = json.loads(out.split("RESULT ", 1)[1])
        best = results.get(side)
        if best is None or result["seconds"] < best["seconds"]:
            results[side] = result
    tokens = results["bare"]["tokens"]
    for side in ("bare", "stage"):
        r = results[side]
        r["steps_per_s"], r["tokens_per_s"] = r["steps"] / r["seconds"], tokens / r["seconds"]
        mem = f"peak RSS {r['peak_rss_mb']:.0f} MB"
        if "cuda_max_allocated_mb" in r:
            mem += f", cuda max allocated {r['cuda_max_allocated_mb']:.0f} MB"
        print(f"{side:>5}: {r['steps_per_s']:.3f} steps/s, {r['tokens_per_s']:.1f} tokens/s ({mem})")
    print(f"stage / bare = {results['stage']['steps_per_s'] / results['bare']['steps_per_s']:.3f}")
    print(f"adapter weights {results['stage']['adapter_bytes'] / 1e6:.2f} MB "
          f"(folder with tokenizer {results['stage']['adapter_dir_bytes'] / 1e6:.2f} MB)")
    print(json.dumps({"model": args.model, "device": args.device, "steps": args.steps, "warmup": args.warmup,
                      "batch_size": args.batch_size, "max_length": args.max_length, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
