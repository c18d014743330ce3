"""SFT: tagged rows -> LoRA adapter (backends.lora_trainer) with live loss/val-loss/lr/steps-per-s/ETA metrics.

Run folder: `checkpoints/checkpoint-N` every `save_steps` (a kill -9 then `confconsole resume RUN` continues from
the last complete one), `outputs/adapter/` (the final adapter + tokenizer with the added tokens: the interface of
the evaluation stage), `outputs/train_result.json`. The single chunk 0 holds the loss curve (one record per logged
step) and is written last: a run whose chunk exists is done, and resume skips training.
"""

from __future__ import annotations

import json
from typing import Any

from experiments.runs.atomic import write_text_atomic
from experiments.runs.context import StageContext
from experiments.stages.sft.spec import SFTSpec
from experiments.stages.sft.training import curve_records, hooks_for, load_data, result_dict, trainer_config


def run(spec: SFTSpec, ctx: StageContext) -> None:
    from experiments.stages.sft import data as sft_data

    store, emit = ctx.store, ctx.emit
    # a kill -9 loses at most the steps since the last checkpoint: resume continues from it
    store.update_manifest(counts={"chunks_target": 1}, steps_in_flight=spec.save_steps)
    if store.chunk_done(0):
        emit.chunk(0, "skipped")
        return
    loaded = load_data(spec, ctx)
    tokens = sft_data.tokens_of(loaded.rows, spec.tokens)
    if not tokens:
        emit.log("no confidence token found in the data: training without new tokens", "warning")
    train, val = sft_data.split(loaded.rows, spec.val_fraction, spec.seed)
    if spec.num_processes > 1:
        from experiments.stages.sft.multi import train_distributed

        result = train_distributed(spec, ctx)
    else:
        from backends.lora_trainer import train_lora

        cfg = trainer_config(spec, ctx, tokens)
        res = train_lora(cfg, sft_data.trainer_rows(train), sft_data.trainer_rows(val),
                         store.outputs_dir / "adapter", hooks_for(ctx))
        result = result_dict(spec, cfg.model_path, tokens, res, len(train), len(val))
    write_text_atomic(store.outputs_dir / "train_result.json", json.dumps(result, indent=2))
    emit.artifact(str(store.outputs_dir / "adapter"), "adapter", {"bytes": result["adapter_bytes"]})
    emit.progress(result["steps"], result["steps"], unit="steps", force=True)
    records = curve_records(result["log_history"])
    store.write_chunk(0, records)
    emit.chunk(0, "computed", len(records))


def finalize(spec: SFTSpec, ctx: StageContext) -> dict[str, Any]:
    path = ctx.store.outputs_dir / "train_result.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    result.pop("log_history", None)
    return result
