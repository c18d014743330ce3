"""LoRA fine-tuning with added confidence tokens, driven by TRL's `SFTTrainer` (plain library: no experiments).

Why TRL rather than a hand-written loop: it already does prompt-completion tokenization through the chat template
with a completion-only loss mask, gradient accumulation, checkpoint/resume of optimizer, scheduler and RNG states,
evaluation, and multi-GPU through accelerate. We add a few things on top:

- the new tokens are added to the tokenizer as atomic added tokens (never split, not normalized) but not flagged
  `special`: every engine decodes with `skip_special_tokens=True` by default, which would strip a special token
  from the answer text, and the evaluation parses the token from that text;
- only their embedding rows are trained (peft `trainable_token_indices`; with untied embeddings the matching
  `lm_head` rows too, else the model could read the token but never learn to emit it);
- the loss goes through the model's own forward (`Trainer.compute_loss`), not TRL's fused LM head: that one
  multiplies by `lm_head.weight` directly, which skips peft's trainable-token rows, so the output logits of the new
  tokens would never see their trained values (and it fails on the wrapped head);
- adapters (final and in checkpoints) are saved without the resized embedding matrix (`save_embedding_layers=False`:
  peft's `auto` would store all 49k rows because the vocab grew; the trainable rows are already in the adapter);
- a checkpoint is marked complete (`.complete`) only after the trainer has written all of it, so a kill -9 during a
  save never leaves a half checkpoint that resume would pick.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMPLETE = ".complete"


@dataclass
class LoraTrainConfig:
    model_path: str
    output_dir: str  # checkpoints go here (checkpoint-N)
    tokens: list[str] = field(default_factory=list)
    r: int = 8
    lora_alpha: int = 32
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    lora_dropout: float = 0.05
    epochs: float = 5.0
    max_steps: int = -1
    lr: float = 5e-5
    lr_scheduler: str = "linear"
    warmup_ratio: float = 0.0
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 1024
    seed: int = 0
    save_steps: int = 50
    save_total_limit: int | None = 2
    eval_steps: int | None = None  # None: evaluate every save_steps
    logging_steps: int = 1
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (bf16 on a bf16-capable GPU, else fp32) | fp32 | bf16 | fp16
    gradient_checkpointing: bool = False


@dataclass
class TrainHooks:
    """Callbacks the caller turns into its own events; every one is optional."""

    on_metrics: Callable[[int, dict[str, float]], None] | None = None  # (step, {name: value})
    on_progress: Callable[[int, int], None] | None = None  # (step, max_steps)
    on_checkpoint: Callable[[int, str], None] | None = None  # (step, path)
    on_start: Callable[[dict[str, Any]], None] | None = None  # model/trainable-parameter facts


@dataclass
class TrainResult:
    adapter_dir: str
    token_ids: dict[str, int]
    log_history: list[dict[str, Any]]
    global_step: int
    resumed_from: str | None
    trainable_params: int
    adapter_bytes: int
    model: Any = field(default=None, repr=False)  # the trained peft model, in memory
    tokenizer: Any = field(default=None, repr=False)


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The highest checkpoint-N that has the completion marker (half-written ones are ignored)."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    done = [p for p in root.glob("checkpoint-*") if (p / COMPLETE).exists() and p.name.split("-")[-1].isdigit()]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None


def finished_at(checkpoint: str | Path) -> bool:
    """Was this checkpoint saved at the run's last step? (Its trainer_state says global_step >= max_steps.)"""
    import json

    try:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(state.get("max_steps")) and int(state.get("global_step", 0)) >= int(state["max_steps"])


def restore_finished(trainer: Any, checkpoint: str) -> None:
    """Load the final checkpoint's weights and state instead of training: resuming `train()` from a checkpoint at
    max_steps (a worker killed after its last step, before it wrote its result) takes one more optimizer step."""
    from transformers import TrainerState

    trainer._load_from_checkpoint(checkpoint)
    trainer.state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))


def adapter_weight_bytes(adapter_dir: str | Path) -> int:
    """Size of the adapter's weights (LoRA + new token rows), the tokenizer files left out."""
    return sum(p.stat().st_size for p in Path(adapter_dir).glob("adapter_model.*"))


def _precision_flags(precision: str, device: str) -> dict[str, bool]:
    import torch

    if precision == "auto":
        precision = "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def load_model_with_tokens(model_path: str, tokens: list[str], device: str = "cpu") -> tuple[Any, Any, dict[str, int]]:
    """Base model + tokenizer with `tokens` added as special tokens (embeddings resized); returns their ids."""
    from tokenizers import AddedToken
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    missing = [t for t in tokens if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in missing])
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype="float32")
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tokens}
    return model.to(device), tokenizer, ids


def lora_config(cfg: LoraTrainConfig, model: Any, token_ids: list[int]) -> Any:
    from peft import LoraConfig

    indices: dict[str, list[int]] | None = None
    if token_ids:
        embed = _module_name(model, model.get_input_embeddings())
        indices = {embed: list(token_ids)}
        head = model.get_output_embeddings()
        if head is not None and head.weight is not model.get_input_embeddings().weight:
            indices[_module_name(model, head)] = list(token_ids)
    return LoraConfig(r=cfg.r, lora_alpha=cfg.lora_alpha, target_modules=list(cfg.target_modules),
                      lora_dropout=cfg.lora_dropout, bias="none", task_type="CAUSAL_LM",
                      trainable_token_indices=indices)


def _module_name(model: Any, module: Any) -> str:
    for name, mod in model.named_modules():
        if mod is module:
            return name.split(".")[-1]
    raise ValueError("embedding module not found in the model")


def save_adapter(model: Any, tokenizer: Any, out_dir: str | Path) -> int:
    """Adapter (LoRA + the new token rows only) + tokenizer; returns the size of the adapter weights in bytes."""
    out = Path(out_dir)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, save_embedding_layers=False)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return adapter_weight_bytes(out)


def _callback(cfg: LoraTrainConfig, hooks: TrainHooks) -> Any:
    from transformers import TrainerCallback

    class HookCallback(TrainerCallback):
        """Trainer events -> hooks: metrics with steps/s and ETA, progress, complete checkpoints."""

        def __init__(self) -> None:
            self.t0: float | None = None
            self.step0 = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t0, self.step0 = time.monotonic(), state.global_step

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if hooks.on_progress:
                hooks.on_progress(state.global_step, state.max_steps)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kw: Any) -> None:
            values = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float)}
            elapsed = time.monotonic() - (self.t0 or time.monotonic())
            steps = state.global_step - self.step0
            if "loss" in values and steps > 0 and elapsed > 0:
                values["steps_per_s"] = steps / elapsed
                values["eta_s"] = (state.max_steps - state.global_step) / values["steps_per_s"]
            if hooks.on_metrics and values:
                hooks.on_metrics(state.global_step, values)

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if path.is_dir():
                (path / COMPLETE).write_text("ok\n")
                if hooks.on_checkpoint:
                    hooks.on_checkpoint(state.global_step, str(path))

    return HookCallback()


def _trainer_class() -> Any:
    from peft import PeftModel
    from transformers import Trainer
    from trl import SFTTrainer

    class AdapterOnlySFTTrainer(SFTTrainer):
        """Loss through the model's own forward; checkpoints without the resized embedding matrix (module doc)."""

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            inputs["use_cache"] = False
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

        def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
            import torch

            model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
            if not isinstance(model, PeftModel):
                return super()._save(output_dir, state_dict)
            output_dir = output_dir or self.args.output_dir
            os.makedirs(output_dir, exist_ok=True)
            if self.args.should_save:
                model.save_pretrained(output_dir, save_embedding_layers=False)
                self.processing_class.save_pretrained(output_dir)
                torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    return AdapterOnlySFTTrainer


def build_trainer(cfg: LoraTrainConfig, train_rows: list[dict[str, Any]], val_rows: list[dict[str, Any]],
                  hooks: TrainHooks | None = None) -> tuple[Any, dict[str, int]]:
    """An SFTTrainer over prompt/completion rows (strings or chat message lists) with the peft model built."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig

    hooks = hooks or TrainHooks()
    device = cfg.device if cfg.device != "auto" else _auto_device()
    set_seed(cfg.seed)
    model, tokenizer, ids = load_model_with_tokens(cfg.model_path, cfg.tokens, device)
    evaluate = bool(val_rows)
    args = SFTConfig(
        output_dir=cfg.output_dir, num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, learning_rate=cfg.lr,
        lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, max_length=cfg.max_length, seed=cfg.seed, data_seed=cfg.seed,
        logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit, eval_strategy="steps" if evaluate else "no",
        eval_steps=cfg.eval_steps or cfg.save_steps, report_to="none", disable_tqdm=True,
        use_cpu=device == "cpu", gradient_checkpointing=cfg.gradient_checkpointing, dataloader_num_workers=0,
        completion_only_loss=True, ddp_find_unused_parameters=False, **_precision_flags(cfg.precision, device),
    )
    if device == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        # One process trains on one GPU: with several visible, `Trainer` would wrap the model in DataParallel over
        # all of them, which TRL's SFTTrainer refuses (several GPUs: `num_processes`, one DDP process per GPU).
        _ = args.device
        args._n_gpu = min(args._n_gpu, 1)
    trainer = _trainer_class()(
        model=model, args=args, train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(val_rows) if evaluate else None, processing_class=tokenizer,
        peft_config=lora_config(cfg, model, list(ids.values())), callbacks=[_callback(cfg, hooks)],
    )
    return trainer, ids


def _auto_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def trainable_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def train_lora(cfg: LoraTrainConfig, train_rows: list[dict[str, Any]], val_rows: list[dict[str, Any]],
               adapter_dir: str | Path, hooks: TrainHooks | None = None, resume: bool = True) -> TrainResult:
    """Train (continuing from the last complete checkpoint in `cfg.output_dir` when `resume`), save the adapter."""
    hooks = hooks or TrainHooks()
    trainer, ids = build_trainer(cfg, train_rows, val_rows, hooks)
    start = last_complete_checkpoint(cfg.output_dir) if resume else None
    trainable = trainable_parameters(trainer.model)
    if hooks.on_start:
        hooks.on_start({"trainable_params": trainable, "token_ids": ids, "resume_from": start,
                        "device": str(trainer.args.device), "train_rows": len(train_rows), "val_rows": len(val_rows)})
    if start and finished_at(start):
        restore_finished(trainer, start)  # killed after its last step: train() would take one step too many
    else:
        trainer.train(resume_from_checkpoint=start)
    evaluated = [e["step"] for e in trainer.state.log_history if "eval_loss" in e]
    if val_rows and (not evaluated or evaluated[-1] != trainer.state.global_step):  # val loss at the last step
        final = {k: float(v) for k, v in trainer.evaluate().items() if isinstance(v, int | float)}
        if hooks.on_metrics:
            hooks.on_metrics(trainer.state.global_step, final)
    size = 0
    model = trainer.accelerator.unwrap_model(trainer.model)
    if trainer.args.should_save:
        size = save_adapter(model, trainer.processing_class, adapter_dir)
    return TrainResult(adapter_dir=str(adapter_dir), token_ids=ids, log_history=list(trainer.state.log_history),
                       global_step=trainer.state.global_step, resumed_from=start, trainable_params=trainable,
                       adapter_bytes=size, model=model, tokenizer=trainer.processing_class)


def merge_adapter(model_path: str, adapter_dir: str | Path, out_dir: str | Path) -> str:
    """A full model folder (base + LoRA + token rows merged, tokenizer with the tokens) for engines that cannot load
    this adapter: vLLM's LoRA support takes neither trainable-token rows nor a vocabulary larger than the base's."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir))
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype="auto")
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    out = Path(out_dir)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return str(out)
