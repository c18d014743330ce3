"""Multi-GPU SFT: the worker runs the training under `accelerate launch` (DDP, one process per GPU) and waits.

Each rank is `python -m experiments.stages.sft.multi RUN_DIR`: it reads the run's spec and data the same way the
single-process path does; rank 0 alone emits events and writes the adapter and `train_result.json`. The ranks stay
in the worker's process group, so `confconsole cancel` (a signal to the group) stops them too, and a resume after a
kill -9 restarts them from the last complete checkpoint like the single-process path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from experiments.runs.context import StageContext
from experiments.stages.sft.spec import SFTSpec


def launch_command(spec: SFTSpec, run_dir: Path, home: Path | None) -> list[str]:
    # --multi_gpu picks accelerate's torchrun launcher; with `device = "cpu"` the ranks use gloo (no GPU needed)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
           str(spec.num_processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "experiments.stages.sft.multi", str(run_dir)]
    return cmd + (["--home", str(home)] if home is not None else [])


def train_distributed(spec: SFTSpec, ctx: StageContext) -> dict[str, Any]:
    from experiments.runs.emit import last_seq

    ctx.emit.flush()
    cmd = launch_command(spec, ctx.store.dir, ctx.home)
    ctx.emit.log(f"launching {spec.num_processes} training processes: {' '.join(cmd[1:])}")
    proc = subprocess.run(cmd, cwd=str(ctx.store.dir), env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=False)
    ctx.emit._seq = max(ctx.emit._seq, last_seq(ctx.store.events_path))  # rank 0 wrote events meanwhile
    if proc.returncode != 0:
        raise RuntimeError(f"distributed training failed (exit {proc.returncode}); see worker.log")
    return json.loads((ctx.store.outputs_dir / "train_result.json").read_text())


def rank_main(run_dir: Path, home: Path | None) -> int:
    from backends.lora_trainer import TrainHooks, train_lora
    from experiments.runs.atomic import write_text_atomic
    from experiments.runs.emit import Emitter
    from experiments.runs.store import RunStore
    from experiments.stages import spec_from_toml
    from experiments.stages.sft import data as sft_data
    from experiments.stages.sft.training import hooks_for, load_rows, result_dict, trainer_config

    store = RunStore(run_dir)
    spec = spec_from_toml(store.spec_text())
    rank = int(os.environ.get("RANK", "0"))
    ctx = StageContext(store=store, emit=Emitter(store.events_path, store.run_id), home=home)
    loaded = load_rows(spec, ctx)
    tokens = sft_data.tokens_of(loaded.rows, spec.tokens)
    train, val = sft_data.split(loaded.rows, spec.val_fraction, spec.seed)
    cfg = trainer_config(spec, ctx, tokens)
    res = train_lora(cfg, sft_data.trainer_rows(train), sft_data.trainer_rows(val), store.outputs_dir / "adapter",
                     hooks_for(ctx) if rank == 0 else TrainHooks())
    if rank == 0:
        result = result_dict(spec, cfg.model_path, tokens, res, len(train), len(val))
        write_text_atomic(store.outputs_dir / "train_result.json", json.dumps(result, indent=2))
        ctx.emit.flush()
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m experiments.stages.sft.multi")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    sys.exit(rank_main(args.run_dir, args.home))
