"""CLI of the SFT stage: `sft` (LoRA-fine-tune a model on tagging runs or a data file, and follow it) and
`sft-merge` (an adapter merged into a full model folder, the vLLM path)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from experiments.cli.commands import add_command
from experiments.cli.common import home_of, stage_command


def prepare(data: dict[str, Any], args: argparse.Namespace) -> None:
    """One source (tagging runs or a file); run prefixes become full ids, so the spec names its inputs exactly."""
    from experiments.runs.store import RunStore

    if bool(data.get("input_runs")) == bool(data.get("data_file")):
        raise ValueError("sft needs --runs RUN [RUN ...] (tagging runs) or --data FILE, one of the two")
    data["input_runs"] = [RunStore.open(run, home_of(args)).run_id for run in data.get("input_runs") or []]


def title(data: dict[str, Any]) -> str:
    runs = data.get("input_runs") or []
    source = f"{len(runs)} tagging run(s)" if runs else data.get("data_file")
    return f"sft {data.get('model', 'smollm2-135m')} on {source}"


def sft_done(stores: list[Any]) -> None:
    summary = stores[-1].manifest().get("summary", {})
    keys = ("adapter_path", "base_model", "tokens", "final_loss", "final_val_loss", "steps", "adapter_bytes")
    print(json.dumps({k: summary.get(k) for k in keys}, indent=2))


def cmd_sft_merge(args: argparse.Namespace) -> int:
    from experiments.stages.sft.adapter import merge_for_vllm

    print(merge_for_vllm(args.adapter, args.out, args.model, home_of(args)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    stage_command(
        sub, "sft", "sft", help="LoRA-fine-tune a model to append its confidence token (an sft run)",
        description="LoRA-fine-tune a small model on tagged answers so it ends each answer with its confidence "
        "token (TRL SFTTrainer + peft). Checkpoints every --save-steps: `confconsole resume RUN` goes on from "
        "the last one. Defaults are the reference recipe.",
        skip=("input_run",), aliases={"input_runs": ("--runs",), "data_file": ("--data",)},
        prepare=prepare, title=title, on_done=sft_done)
    merge = add_command(sub, "sft-merge", group="data", help="merge an sft run's adapter into a full model folder "
                        "(for vLLM)")
    merge.add_argument("adapter", help="an sft run id or an adapter folder")
    merge.add_argument("--out", required=True, help="the model folder to write")
    merge.add_argument("--model", default=None, help="base model (default: the one the sft run trained)")
    merge.set_defaults(func=cmd_sft_merge)
