"""The SFT spec: tagged data + base model -> a LoRA adapter that appends a confidence token. Light imports only.

Defaults are the reference recipe's (LoRA r=8, alpha=32 on q_proj/v_proj, dropout 0.05, 5 epochs, lr 5e-5).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from experiments.specs import BaseSpec


class SFTSpec(BaseSpec):
    """LoRA-fine-tune a small model to append its confidence token."""

    stage: Literal["sft"] = "sft"
    input_runs: list[str] = Field(default_factory=list, description="tagging runs whose tagged answers train on")
    input_run: str = Field("", description="one tagging run (set by a `then` chain); joins input_runs")
    data_file: str = Field("", description="or a .jsonl/.json/.parquet file: prompt/completion, messages, or the "
                           "sft-data export's input/output")
    verdict: Literal["tagged", "rule", "judge", "human", "best"] = Field(
        "tagged", description="tagging runs: the tokens as tagged, or re-derived from this verdict (best: human "
        "where reviewed, else judge, else rule; records without one are left out)")
    model: str = Field("smollm2-135m", description="base model: alias, local HF folder, or hub id")
    tokens: list[str] = Field(default_factory=list, description="confidence tokens to add (empty: from the data)")
    r: int = Field(8, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling alpha")
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"],
                                      description="modules that get LoRA adapters")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA path")
    epochs: float = Field(5.0, gt=0, description="passes over the training rows")
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: from epochs)")
    lr: float = Field(5e-5, gt=0, description="peak learning rate")
    lr_scheduler: str = Field("linear", description="transformers scheduler name (linear, cosine, constant, ...)")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="share of steps for linear warm-up")
    batch_size: int = Field(8, ge=1, description="rows per device per micro-batch")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    max_length: int = Field(1024, ge=8, description="tokens per row (prompt + answer); longer rows are cut")
    seed: int = Field(0, description="model init, data order, dropout and the validation split")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="share of rows held out for validation loss")
    save_steps: int = Field(50, ge=1, description="checkpoint every N steps (the unit of resume)")
    eval_steps: int | None = Field(None, ge=1, description="validation loss every N steps (default: save_steps)")
    save_total_limit: int = Field(2, ge=1, description="checkpoints kept on disk")
    logging_steps: int = Field(1, ge=1, description="loss/lr metric events every N steps")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: cuda when available")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field("auto", description="auto: bf16 on a bf16 GPU, "
                                                                  "else fp32")
    gradient_checkpointing: bool = Field(False, description="trade compute for memory (large models)")
    num_processes: int = Field(1, ge=1, description="GPUs to train on: >1 runs the training under "
                               "`accelerate launch` (DDP), one process per GPU")

    @model_validator(mode="after")
    def _one_source(self) -> SFTSpec:
        if self.input_run and self.input_run not in self.input_runs:
            self.input_runs = [self.input_run, *self.input_runs]
        if self.data_file and self.input_runs:
            raise ValueError("give tagging runs (input_runs) or a data_file, not both")
        return self

    def runs(self) -> list[str]:
        return list(self.input_runs)
