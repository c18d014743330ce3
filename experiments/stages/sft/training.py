"""What the single-process and the multi-process SFT paths share: the rows, the trainer's config, its event hooks
and the result they both write."""

from __future__ import annotations

import math
from typing import Any

from experiments.runs.context import StageContext
from experiments.stages.sft.spec import SFTSpec

METRIC_NAMES = {"loss": "loss", "eval_loss": "val_loss", "learning_rate": "lr", "grad_norm": "grad_norm",
                "steps_per_s": "steps_per_s", "eta_s": "eta_s", "epoch": "epoch"}
CURVE = {"loss", "val_loss"}  # never coalesced away: every point of the curve lands in events.jsonl


def load_rows(spec: SFTSpec, ctx: StageContext) -> Any:
    from experiments.stages.sft import data

    if spec.data_file:
        return data.from_file(spec.data_file)
    if spec.input_runs:
        return data.from_tagging_runs([ctx.input_store(run) for run in spec.input_runs], spec.verdict)
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


def result_dict(spec: SFTSpec, model_path: str, tokens: list[str], res: Any, n_train: int,
                n_val: int) -> dict[str, Any]:
    losses = [e["loss"] for e in res.log_history if "loss" in e]
    val_losses = [e["eval_loss"] for e in res.log_history if "eval_loss" in e]
    return {"adapter_path": res.adapter_dir, "base_model": spec.model, "base_model_path": model_path,
            "tokens": tokens, "token_ids": res.token_ids, "final_loss": losses[-1] if losses else None,
            "final_val_loss": val_losses[-1] if val_losses else None, "steps": res.global_step,
            "train_rows": n_train, "val_rows": n_val, "adapter_bytes": res.adapter_bytes,
            "trainable_params": res.trainable_params, "resumed_from": res.resumed_from,
            "verdict": spec.verdict if spec.input_runs else None,
            "log_history": res.log_history}
