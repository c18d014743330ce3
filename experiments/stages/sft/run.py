"""SFT: tagged rows -> LoRA adapter (backends.lora_trainer) with live loss/val-loss/lr/steps-per-s/ETA metrics.

Run folder: `checkpoints/checkpoint-N` every `save_steps` (a kill -9 then `confconsole resume RUN` continues from
the last complete one), `outputs/adapter/` (the final adapter + tokenizer with the added tokens: the interface of
the evaluation stage), `outputs/train_result.json`. The single chunk 0 holds the loss curve (one record per logged
step) and is written last: a run whose chunk exists is done, and resume skips training.
"""

from __future__ import annotations

import json
import math
from typing import Any

from experiments.atomic import write_text_atomic
from experiments.stages.context import StageContext
from experiments.stages.sft.spec import SFTSpec

METRIC_NAMES = {"loss": "loss", "eval_loss": "val_loss", "learning_rate": "lr", "grad_norm": "grad_norm",
                "steps_per_s": "steps_per_s", "eta_s": "eta_s", "epoch": "epoch"}
CURVE = {"loss", "val_loss"}  # never coalesced away: every point of the curve lands in events.jsonl


def load_rows(spec: SFTSpec, ctx: StageContext) -> Any:
    from experiments.stages.sft import data

    if spec.data_file:
        return data.from_file(spec.data_file)
    if spec.input_runs:
        return data.from_tagging_runs([ctx.input_store(run) for run in spec.input_runs])
    raise ValueError("SFT needs input_runs (tagging runs) or data_file")


def load_data(spec: SFTSpec, ctx: StageContext) -> Any:
    """The rows, with bad ones recorded as item errors (the run goes on without them)."""
    loaded = load_rows(spec, ctx)
    if spec.input_runs:
        ctx.store.update_manifest(inputs=list(loaded.sources))
    for item, reason, detail in loaded.errors:
        ctx.store.add_error(item, reason, detail, stage="sft")
        ctx.emit.item_error(item, reason, detail)
    if not loaded.rows:
        raise ValueError(f"no usable SFT rows ({len(loaded.errors)} bad)")
    return loaded


def trainer_config(spec: SFTSpec, ctx: StageContext, tokens: list[str]) -> Any:
    from backends.embedded import resolve_model
    from backends.lora_trainer import LoraTrainConfig

    return LoraTrainConfig(
        model_path=resolve_model(spec.model, ctx.emit.log), output_dir=str(ctx.store.dir / "checkpoints"),
        tokens=tokens, r=spec.r, lora_alpha=spec.lora_alpha, target_modules=list(spec.target_modules),
        lora_dropout=spec.lora_dropout, epochs=spec.epochs, max_steps=spec.max_steps, lr=spec.lr,
        lr_scheduler=spec.lr_scheduler, warmup_ratio=spec.warmup_ratio, batch_size=spec.batch_size,
        grad_accum=spec.grad_accum, max_length=spec.max_length, seed=spec.seed, save_steps=spec.save_steps,
        save_total_limit=spec.save_total_limit, eval_steps=spec.eval_steps, logging_steps=spec.logging_steps,
        device=spec.device, precision=spec.precision, gradient_checkpointing=spec.gradient_checkpointing)


def hooks_for(ctx: StageContext) -> Any:
    """Trainer callbacks -> metric (with step), progress (steps) and log events."""
    from backends.lora_trainer import TrainHooks

    emit = ctx.emit

    def on_metrics(step: int, values: dict[str, float]) -> None:
        for key, name in METRIC_NAMES.items():
            value = values.get(key)
            if value is not None and math.isfinite(value):
                emit.metric(name, value, step=step, force=name in CURVE)

    def on_start(info: dict[str, Any]) -> None:
        where = f"resuming from {info['resume_from']}" if info["resume_from"] else "from scratch"
        emit.log(f"training {info['train_rows']} rows ({info['val_rows']} validation) on {info['device']}, "
                 f"{info['trainable_params']:,} trainable parameters, tokens {info['token_ids']}, {where}")

    return TrainHooks(on_metrics=on_metrics, on_start=on_start,
                      on_progress=lambda step, total: emit.progress(step, total, unit="steps"),
                      on_checkpoint=lambda step, path: emit.log(f"checkpoint at step {step}: {path}"))


def curve_records(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per logged step (train and eval entries of a step merged): the Records view of the curve."""
    by_step: dict[int, dict[str, Any]] = {}
    for entry in log_history:
        step = int(entry.get("step", 0))
        row = by_step.setdefault(step, {"example_id": f"step-{step:07d}", "sample_idx": 0, "step": step})
        for key, name in METRIC_NAMES.items():
            if key in entry:
                row[name] = entry[key]
    return [by_step[s] for s in sorted(by_step)]


def run(spec: SFTSpec, ctx: StageContext) -> None:
    from experiments.stages.sft import data as sft_data

    store, emit = ctx.store, ctx.emit
    store.update_manifest(counts={"chunks_target": 1})
    if store.chunk_done(0):
        emit.chunk(0, "skipped")
        return
    loaded = load_data(spec, ctx)
    tokens = sft_data.tokens_of(loaded.rows, spec.tokens)
    if not tokens:
        emit.log("no confidence token found in the data: training without new tokens", "warning")
    train, val = sft_data.split(loaded.rows, spec.val_fraction, spec.seed)
    store.update_manifest(counts={"chunks_target": 1, "expected_records": len(loaded.rows)})
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


def result_dict(spec: SFTSpec, model_path: str, tokens: list[str], res: Any, n_train: int,
                n_val: int) -> dict[str, Any]:
    losses = [e["loss"] for e in res.log_history if "loss" in e]
    val_losses = [e["eval_loss"] for e in res.log_history if "eval_loss" in e]
    return {"adapter_path": res.adapter_dir, "base_model": spec.model, "base_model_path": model_path,
            "tokens": tokens, "token_ids": res.token_ids, "final_loss": losses[-1] if losses else None,
            "final_val_loss": val_losses[-1] if val_losses else None, "steps": res.global_step,
            "train_rows": n_train, "val_rows": n_val, "adapter_bytes": res.adapter_bytes,
            "trainable_params": res.trainable_params, "resumed_from": res.resumed_from,
            "log_history": res.log_history}


def finalize(spec: SFTSpec, ctx: StageContext) -> dict[str, Any]:
    path = ctx.store.outputs_dir / "train_result.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    result.pop("log_history", None)
    return result
