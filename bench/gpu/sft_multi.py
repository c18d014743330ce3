"""LoRA SFT on two GPUs (`num_processes = 2`: `accelerate launch`, DDP) against one, at the same global batch.

Two real sft runs through `experiments.api` on the same rows, seed and steps: one process with `grad_accum = 2`
(batch b x 2 micro-batches) and two processes with `grad_accum = 1` (batch b on each), so both take optimizer steps
of 2b rows and follow the same schedule. Steps/s is timed from each run's own loss events (from step `--warmup` to
the last), so process start, model load and the first steps are left out on both sides. The loss curves are
compared point by point against the one-process curve's own step-to-step noise (DDP shards the rows differently,
so the curves agree within noise, not exactly). Prints a table last.

    python3 bench/gpu/sft_multi.py --model /tmp/models/qwen2.5-0.5b             # a host with two GPUs
    python3 bench/gpu/sft_multi.py --device cpu --steps 8 --batch-size 2        # two CPU processes (gloo)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITE = Path("/tmp/site")  # where bench/gpu/setup_host.sh installs the offline bundles
sys.path[:0] = [str(ROOT), str(ROOT / "bench")] + ([str(SITE)] if SITE.is_dir() else [])
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT)] + ([str(SITE)] if SITE.is_dir() else [])
                                                  + [os.environ.get("PYTHONPATH")]))


def spec_for(args: argparse.Namespace, data: Path, processes: int):  # noqa: ANN201
    from experiments.stages.sft.spec import SFTSpec

    return SFTSpec(title=f"sft x{processes}", data_file=str(data), model=args.model, max_steps=args.steps,
                   batch_size=args.batch_size, grad_accum=2 // processes, max_length=args.max_length,
                   val_fraction=0.0, save_steps=10 * args.steps, device=args.device, precision=args.precision,
                   lr=args.lr, lr_scheduler="constant", num_processes=processes, seed=0)


def loss_curve(run_id: str, home: Path) -> dict[int, tuple[float, float]]:
    """step -> (loss, event time) from the run's metric events."""
    from experiments.runs.store import RunStore

    store = RunStore.open(run_id, home)
    curve = {}
    for line in store.events_path.read_text().splitlines():
        e = json.loads(line)
        if e.get("type") == "metric" and e.get("name") == "loss" and e.get("step") is not None:
            curve[int(e["step"])] = (float(e["value"]), float(e["ts"]))
    return curve


def one_run(args: argparse.Namespace, data: Path, home: Path, processes: int) -> dict:
    from experiments import api

    # one process sees one GPU (with several visible, transformers' Trainer would wrap the model in DataParallel,
    # which the adapter-only trainer refuses); the DDP run sees the first `processes` GPUs
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    if args.device == "cuda":
        visible = (before or ",".join(str(i) for i in range(processes))).split(",")
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(visible[:processes])
    started = time.perf_counter()
    try:
        run_id = api.launch(spec_for(args, data, processes), home)
    finally:
        if before is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before
    status = api.wait(run_id, home, timeout=args.timeout)
    wall = time.perf_counter() - started
    curve = loss_curve(run_id, home)
    steps = sorted(s for s in curve if s >= args.warmup)
    rate = float("nan")
    if status == "done" and len(steps) > 1:
        rate = (steps[-1] - steps[0]) / max(1e-9, curve[steps[-1]][1] - curve[steps[0]][1])
    print(f"{processes} process(es): {status}, {len(curve)} loss points, {rate:.3f} steps/s, wall {wall:.1f}s "
          f"(run {run_id})", flush=True)
    return {"run": run_id, "status": status, "steps_per_s": rate, "wall_s": wall,
            "loss": {s: v for s, (v, _) in sorted(curve.items())}}


def compare(one: dict[int, float], two: dict[int, float]) -> dict[str, float]:
    """Mean |difference| of the two curves vs the one-process curve's step-to-step noise (mean |l[s+1] - l[s]|)."""
    common = sorted(set(one) & set(two))
    if len(common) < 3:
        return {"points": len(common)}
    diff = statistics.fmean(abs(one[s] - two[s]) for s in common)
    noise = statistics.fmean(abs(one[a] - one[b]) for a, b in zip(common, common[1:], strict=False))
    tail = max(1, len(common) // 5)
    return {"points": len(common), "mean_abs_diff": diff, "step_noise": noise,
            "first_one": one[common[0]], "first_two": two[common[0]],
            "last_one": statistics.fmean(one[s] for s in common[-tail:]),
            "last_two": statistics.fmean(two[s] for s in common[-tail:])}


def main() -> int:
    from sft_speed import write_rows

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8, help="rows per process per micro-batch")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--timeout", type=float, default=560)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home, data = Path(tmp) / "home", write_rows(Path(tmp) / "rows.jsonl", args.rows)
        one = one_run(args, data, home, 1)
        two = one_run(args, data, home, 2)
    cmp = compare(one["loss"], two["loss"])
    speedup = two["steps_per_s"] / one["steps_per_s"]
    print(f"\nLoRA SFT, model {args.model}, device {args.device}, {args.steps} steps of "
          f"{2 * args.batch_size} rows (1 process: batch {args.batch_size} x grad_accum 2; 2 processes: batch "
          f"{args.batch_size} each), max length {args.max_length}, steps/s from step {args.warmup}")
    print(f"{'processes':<10} {'status':<8} {'steps/s':>9} {'rows/s':>9} {'wall s':>8}")
    for n, r in ((1, one), (2, two)):
        print(f"{n:<10} {r['status']:<8} {r['steps_per_s']:>9.3f} {r['steps_per_s'] * 2 * args.batch_size:>9.1f} "
              f"{r['wall_s']:>8.1f}")
    print(f"speed-up 2 vs 1: {speedup:.2f}x (goal >= 1.8)")
    print("loss curves: " + json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in cmp.items()}))
    return 0 if one["status"] == two["status"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
