"""The SFT stage end to end through the worker layer: CLI launch, live metric events, kill -9 then resume from
the last checkpoint with the same loss curve as an uninterrupted run (a tiny random-weight Llama keeps it fast)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from experiments import api
from experiments.cli.main import main
from experiments.runs.events import MetricEvent, ProgressEvent
from experiments.runs.state import EventTail
from experiments.runs.store import RunStore
from experiments.stages.sft.spec import SFTSpec

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # ~1 min on an idle 2-core box; shared ones are slower


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """2 layers, hidden 32, untied embeddings (the lm_head rows of the new tokens train too), SmolLM2's tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from backends.embedded import resolve_model

    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(resolve_model("smollm2-135m"))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      tie_word_embeddings=False, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def write_data(path: Path) -> Path:
    rows = [{"prompt": f"{a}+{a}?", "completion": f"{2 * a} <CN_MATH>" if a % 3 else f"{a} <UN_MATH>"}
            for a in range(12)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + json.dumps({"prompt": "orphan"}) + "\n")
    return path


def wait_until(check, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.2)


def curve(store: RunStore) -> dict[int, tuple[float | None, float | None]]:
    return {r["step"]: (r.get("loss"), r.get("val_loss")) for r in store.records()}


def test_kill_9_then_resume_gives_the_uninterrupted_loss_curve(tmp_path, tiny_model, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # two workers at once on 2 cores: no thread oversubscription
    home, data = tmp_path / "home", write_data(tmp_path / "sft.jsonl")
    args = ["--max-steps", "8", "--save-steps", "2", "--batch-size", "2", "--max-length", "48", "--lr", "0.01",
            "--val-fraction", "0.25", "--device", "cpu"]
    assert main(["--home", str(home), "sft", "--data", str(data), "--model", str(tiny_model), *args,
                 "--detach"]) == 0
    uninterrupted = capsys.readouterr().out.split("launched ")[1].split()[0]
    spec = SFTSpec(data_file=str(data), model=str(tiny_model), max_steps=8, save_steps=2, batch_size=2,
                   max_length=48, lr=0.01, val_fraction=0.25, device="cpu")
    killed = RunStore.open(api.launch(spec, home), home)
    wait_until(lambda: (killed.dir / "checkpoints" / "checkpoint-4" / ".complete").exists())
    os.killpg(killed.manifest()["pids"][0], signal.SIGKILL)
    wait_until(lambda: killed.effective_status() == "interrupted", 30)
    assert not killed.chunk_done(0)
    assert main(["--home", str(home), "resume", killed.run_id, "--detach"]) == 0
    assert api.wait(uninterrupted, home, timeout=400) == "done"
    assert api.wait(killed.run_id, home, timeout=400) == "done"

    a, b = RunStore.open(uninterrupted, home), killed
    assert b.effective_status() == "done"
    assert sorted(curve(a)) == list(range(1, 9))
    for step, (loss, val) in curve(a).items():
        loss_b, val_b = curve(b)[step]
        assert loss_b == pytest.approx(loss, rel=1e-4), step
        assert (val is None) == (val_b is None) and (val is None or val_b == pytest.approx(val, rel=1e-4))
    events = EventTail(b.events_path).poll()
    logs = " ".join(getattr(e, "message", "") for e in events)
    assert "from scratch" in logs and "resuming from" in logs and "checkpoint-" in logs
    metrics = [e for e in events if isinstance(e, MetricEvent)]
    assert {"loss", "val_loss", "lr", "steps_per_s", "eta_s"} <= {m.name for m in metrics}
    assert all(m.step is not None for m in metrics)
    assert any(isinstance(e, ProgressEvent) and e.unit == "steps" and e.done == e.total == 8 for e in events)

    summary = b.manifest()["summary"]
    assert summary["base_model"] == str(tiny_model) and summary["tokens"] == ["<CN_MATH>", "<UN_MATH>"]
    assert summary["adapter_path"] == str(b.outputs_dir / "adapter") and summary["steps"] == 8
    assert summary["final_loss"] == pytest.approx(curve(a)[8][0], rel=1e-4)
    assert summary["final_val_loss"] == pytest.approx(curve(a)[8][1], rel=1e-4)
    assert (b.outputs_dir / "adapter" / "adapter_model.safetensors").stat().st_size < 50_000
    assert [e["reason"] for e in b.errors()] == ["bad_sft_row"]


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
