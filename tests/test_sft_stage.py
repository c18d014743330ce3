"""The SFT stage's loss mask and token handling on a tiny random-weight Llama. The stage end to end through the
worker layer (CLI launch, live metric events, kill -9 then resume from the last checkpoint with the uninterrupted
loss curve) is tests/faults/test_kill_sft.py, which kills it five times."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sft_models import sft_tiny_llama

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from backends.embedded import resolve_model

    return sft_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), str(resolve_model("smollm2-135m")))


def test_loss_covers_the_answer_and_its_token_only_and_the_token_stays_in_decoded_text(tiny_model, tmp_path):
    from backends.lora_trainer import LoraTrainConfig, build_trainer
    from experiments.stages.sft import data as sft_data

    row = sft_data.normalize_row({"prompt": "1+1?", "completion": "2 <CN_MATH>"})
    rows = sft_data.trainer_rows([{"id": "0", **row}])
    cfg = LoraTrainConfig(model_path=str(tiny_model), output_dir=str(tmp_path), tokens=["<CN_MATH>", "<UN_MATH>"],
                          device="cpu", max_length=64)
    trainer, ids = build_trainer(cfg, rows, [])
    batch = next(iter(trainer.get_train_dataloader()))
    tok = trainer.processing_class
    inputs, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    assert "user\n1+1?" in tok.decode(inputs)
    trained = [t for t, label in zip(inputs, labels, strict=True) if label != -100]
    assert tok.decode(trained) == "2 <CN_MATH><|im_end|>\n"
    assert ids["<CN_MATH>"] in inputs and tok.decode([ids["<CN_MATH>"]], skip_special_tokens=True) == "<CN_MATH>"
    # untied embeddings: the new rows of the input embeddings and of lm_head train, nothing else outside LoRA
    names = [n for n, p in trainer.model.named_parameters() if p.requires_grad and "lora_" not in n]
    assert sorted(n.split(".")[-4] for n in names) == ["embed_tokens", "lm_head"], names


def test_resuming_at_the_last_checkpoint_trains_no_further(tiny_model, tmp_path):
    """A worker killed after its last step, before it wrote its result: the resume restores the final checkpoint
    (transformers' `train()` resumed there would take one more optimizer step, found by tests/faults)."""
    from backends.lora_trainer import LoraTrainConfig, last_complete_checkpoint, train_lora
    from experiments.stages.sft import data as sft_data

    rows = sft_data.trainer_rows([{"id": str(a), **sft_data.normalize_row(
        {"prompt": f"{a}+{a}?", "completion": f"{2 * a} <CN_MATH>"})} for a in range(9)])
    cfg = LoraTrainConfig(model_path=str(tiny_model), output_dir=str(tmp_path / "ckpt"), tokens=["<CN_MATH>"],
                          device="cpu", max_length=64, max_steps=6, save_steps=3, batch_size=2, lr=0.01)
    first = train_lora(cfg, rows, [], tmp_path / "a")
    assert first.global_step == 6 and last_complete_checkpoint(cfg.output_dir).endswith("checkpoint-6")
    again = train_lora(cfg, rows, [], tmp_path / "b")  # 5 steps an epoch: the last checkpoint is mid-epoch
    assert again.resumed_from.endswith("checkpoint-6") and again.global_step == 6
    assert [e["step"] for e in again.log_history if "loss" in e] == [1, 2, 3, 4, 5, 6]
    assert (tmp_path / "b" / "adapter_model.safetensors").read_bytes() == \
        (tmp_path / "a" / "adapter_model.safetensors").read_bytes()
