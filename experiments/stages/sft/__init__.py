"""The SFT stage: LoRA-fine-tune a model to append its confidence token (TRL SFTTrainer + peft, in backends)."""
