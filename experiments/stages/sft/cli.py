"""CLI command of the SFT stage: `sft` (LoRA-fine-tune a model on tagging runs or a data file, and follow it)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from experiments.cli.common import add_follow_args, home_of, launch_and_follow


def sft_spec(args: argparse.Namespace) -> Any:
    from experiments.runs.store import RunStore
    from experiments.stages.sft.spec import SFTSpec

    runs = [RunStore.open(run, home_of(args)).run_id for run in args.runs or []]
    fields = {name: getattr(args, name) for name in ("r", "lora_alpha", "lora_dropout", "epochs", "max_steps", "lr",
                                                     "batch_size", "grad_accum", "max_length", "seed",
                                                     "val_fraction", "save_steps", "device", "num_processes",
                                                     "verdict")
              if getattr(args, name) is not None}
    if args.target_modules:
        fields["target_modules"] = args.target_modules.split(",")
    source = f"{len(runs)} tagging run(s)" if runs else args.data
    return SFTSpec(input_runs=runs, data_file=args.data or "", model=args.model, tokens=args.tokens or [],
                   title=args.title or f"sft {args.model} on {source}", **fields)


def cmd_sft(args: argparse.Namespace) -> int:
    if bool(args.runs) == bool(args.data):
        print("give --runs RUN [RUN ...] or --data FILE")
        return 2

    def done(stores: list[Any]) -> None:
        summary = stores[-1].manifest().get("summary", {})
        keys = ("adapter_path", "base_model", "tokens", "final_loss", "final_val_loss", "steps", "adapter_bytes")
        print(json.dumps({k: summary.get(k) for k in keys}, indent=2))

    return launch_and_follow(sft_spec(args), args, done)


def cmd_sft_merge(args: argparse.Namespace) -> int:
    from experiments.stages.sft.adapter import merge_for_vllm

    print(merge_for_vllm(args.adapter, args.out, args.model, home_of(args)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sft", help="LoRA-fine-tune a model to append its confidence token (an sft run)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--runs", nargs="+", help="tagging runs to train on")
    src.add_argument("--data", help="a .jsonl/.parquet file: prompt/completion, messages, or input/output")
    p.add_argument("--model", default="smollm2-135m", help="base model: alias, local HF folder, or hub id")
    p.add_argument("--tokens", nargs="+", help="confidence tokens to add (default: from the data)")
    p.add_argument("--epochs", type=float)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--r", type=int)
    p.add_argument("--lora-alpha", type=int)
    p.add_argument("--lora-dropout", type=float)
    p.add_argument("--target-modules", help="comma-separated, e.g. q_proj,v_proj")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--grad-accum", type=int)
    p.add_argument("--max-length", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--save-steps", type=int)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--num-processes", type=int, help="GPUs: >1 trains under `accelerate launch` (DDP)")
    p.add_argument("--verdict", choices=["tagged", "rule", "judge", "human", "best"],
                   help="--runs: re-derive tokens from this verdict (best: human where reviewed, else judge, "
                   "else rule); default: as tagged")
    p.add_argument("--title", default="")
    add_follow_args(p)
    p.set_defaults(func=cmd_sft)
    merge = sub.add_parser("sft-merge", help="merge an sft run's adapter into a full model folder (for vLLM)")
    merge.add_argument("adapter", help="an sft run id or an adapter folder")
    merge.add_argument("--out", required=True, help="the model folder to write")
    merge.add_argument("--model", default=None, help="base model (default: the one the sft run trained)")
    merge.set_defaults(func=cmd_sft_merge)
