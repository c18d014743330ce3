"""SFT stage: data rows, spec defaults, loss view; the embedded model trained for real and its adapter reloaded."""

from __future__ import annotations

import json

import pytest

from experiments.runs.events import MetricEvent
from experiments.runs.state import RunState
from experiments.specs import SpecError
from experiments.stages import parse_spec
from experiments.stages.sft import data as sft_data
from experiments.stages.sft.views import loss_view


def test_rows_from_every_file_shape_and_bad_rows_are_reported(tmp_path):
    path = tmp_path / "sft.jsonl"
    rows = [
        {"prompt": "1+1?", "completion": "2 <CN_MATH>"},
        {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5 <UN_MATH>"}]},
        {"input": "3+3?", "output": "6 <|c_read|>"},
        {"prompt": "no answer column"},
        {"messages": [{"role": "user", "content": "only a question"}]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n")
    loaded = sft_data.from_file(path)
    assert [r["token"] for r in loaded.rows] == ["<CN_MATH>", "<UN_MATH>", "<|c_read|>"]
    assert loaded.rows[1]["prompt"] == [{"role": "user", "content": "2+2?"}]
    assert loaded.rows[1]["completion"] == [{"role": "assistant", "content": "5 <UN_MATH>"}]
    assert [e[1] for e in loaded.errors] == ["bad_sft_row", "bad_sft_row", "bad_row"]
    # every seen token and its right/wrong partner
    assert sft_data.tokens_of(loaded.rows, []) == ["<CN_MATH>", "<UN_MATH>", "<|c_read|>", "<|u_read|>"]
    assert sft_data.tokens_of(loaded.rows, ["<X>"]) == ["<X>"]


def test_rows_from_tagging_runs_are_the_sft_data_export_rows(tmp_path):
    from experiments.runs.store import RunStore
    from experiments.specs import spec_to_toml
    from experiments.stages.tagging.spec import TaggingSpec
    from tests.tui_fixtures import sample_records

    records = [{**r, "correct": bool(r["correct"]), "confidence_token": "<CN_MATH>" if r["correct"] else "<UN_MATH>",
                "tagged_response": r["response"] + (" <CN_MATH>" if r["correct"] else " <UN_MATH>")}
               for r in sample_records(6)]
    tagging = RunStore.create(spec_to_toml(TaggingSpec(input_run="x")), "tagging", tmp_path)
    tagging.write_chunk(0, records)
    loaded = sft_data.from_tagging_runs([tagging])
    assert loaded.sources == {tagging.run_id: 6} and not loaded.errors
    assert loaded.rows[0]["prompt"] == [{"role": "user", "content": records[0]["prompt"]}]
    assert loaded.rows[0]["completion"][0]["content"].endswith(" <CN_MATH>")
    assert [r["token"] for r in loaded.rows] == [r["confidence_token"] for r in records]
    # a non-tagging run is refused with a clear message
    other = RunStore.create(spec_to_toml(parse_spec({"stage": "sft", "data_file": "x"})), "sft", tmp_path)
    with pytest.raises(ValueError, match="tagging runs"):
        sft_data.from_tagging_runs([other])


def test_split_is_seeded_and_keeps_a_training_row():
    rows = [{"id": i} for i in range(20)]
    train, val = sft_data.split(rows, 0.25, seed=3)
    assert len(val) == 5 and len(train) == 15
    assert sft_data.split(rows, 0.25, seed=3) == (train, val)
    assert sft_data.split(rows, 0.25, seed=4) != (train, val)
    assert sft_data.split(rows[:1], 0.5, 0) == (rows[:1], [])
    assert len(sft_data.split(rows[:2], 0.01, 0)[1]) == 1


def test_spec_defaults_are_the_reference_recipe():
    spec = parse_spec({"stage": "sft", "data_file": "x.jsonl"})
    assert (spec.r, spec.lora_alpha, spec.target_modules, spec.lora_dropout, spec.epochs, spec.lr) == (
        8, 32, ["q_proj", "v_proj"], 0.05, 5.0, 5e-5)
    assert parse_spec({"stage": "sft", "input_run": "a", "input_runs": ["b"]}).input_runs == ["a", "b"]
    with pytest.raises(SpecError, match="not both"):
        parse_spec({"stage": "sft", "data_file": "x.jsonl", "input_runs": ["a"]})
    with pytest.raises(SpecError, match="lora_alpha"):
        parse_spec({"stage": "sft", "lora_alpah": 3})


def test_loss_view_keeps_the_latest_value_of_a_relogged_step():
    state = RunState()
    for name, value, step in [("loss", 3.0, 1), ("loss", 2.5, 2), ("lr", 1e-4, 2), ("val_loss", 2.7, 2),
                              ("loss", 2.4, 2), ("loss", 2.0, 3), ("steps_per_s", 1.5, 3), ("eta_s", 4.0, 3)]:
        state.consume(MetricEvent(name=name, value=value, step=step))  # step 2 again: a resumed run
    view = loss_view(state.metrics)
    assert view.loss == [(1, 3.0), (2, 2.4), (3, 2.0)]
    assert view.val_loss == [(2, 2.7)]
    assert (view.step, view.lr, view.steps_per_s, view.eta_s) == (3, 1e-4, 1.5, 4.0)
    assert "loss 2.0000" in view.caption() and "ETA 4s" in view.caption()


# -- the embedded model, trained for real ---------------------------------------------------------------------
ROWS = [(f"What is {a} plus {a}?", f"{2 * a} <CN_MATH>" if a % 2 else f"{2 * a + 1} <UN_MATH>") for a in range(6)]
PROMPTS = ["What is 7 plus 7?", "What is 2 plus 2?"]


def trainer_rows(pairs: list[tuple[str, str]]) -> list[dict]:
    return sft_data.trainer_rows([{"id": str(i), **sft_data.normalize_row({"prompt": p, "completion": c})}
                                  for i, (p, c) in enumerate(pairs)])


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: on a shared 2-core box two spinning threads per process are several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def embedded_adapter(tmp_path_factory, one_thread):
    """LoRA on SmolLM2-135M for 3 steps (tiny rows, max length 64), with the trained model kept in memory."""
    from backends.embedded import resolve_model
    from backends.lora_trainer import LoraTrainConfig, train_lora

    root = tmp_path_factory.mktemp("sft-embedded")
    cfg = LoraTrainConfig(model_path=resolve_model("smollm2-135m"), output_dir=str(root / "checkpoints"),
                          tokens=["<CN_MATH>", "<UN_MATH>"], max_steps=3, lr=2e-3, batch_size=2, max_length=64,
                          save_steps=100, device="cpu")
    metrics: list[tuple[int, dict]] = []
    from backends.lora_trainer import TrainHooks

    result = train_lora(cfg, trainer_rows(ROWS[:4]), trainer_rows(ROWS[4:]), root / "adapter",
                        TrainHooks(on_metrics=lambda step, values: metrics.append((step, values))))
    return cfg, result, metrics


def greedy(generator, prompts: list[str], max_tokens: int = 8) -> list[str]:
    from backends.base import GenerationRequest, SamplingParams

    requests = [GenerationRequest(key=i, messages=[{"role": "user", "content": p}]) for i, p in enumerate(prompts)]
    results = sorted(generator.generate(requests, SamplingParams(max_tokens=max_tokens, temperature=0.0)),
                     key=lambda r: r.key)
    return [r.text for r in results]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_embedded_model_trains_and_its_small_adapter_reloads_to_the_same_outputs(embedded_adapter):
    import torch

    from backends.hf import HFGenerator

    cfg, result, metrics = embedded_adapter
    losses = [v["loss"] for _, v in metrics if "loss" in v]
    assert len(losses) == 3 and all(loss > 0 for loss in losses)
    assert any("eval_loss" in v for _, v in metrics) and any("steps_per_s" in v for _, v in metrics)
    # LoRA r=8 on q/v of 30 layers + 2 token rows: ~1.8 MB, not the 113 MB resized embedding matrix
    assert 1_000_000 < result.adapter_bytes < 3_000_000
    assert result.trainable_params == 30 * 8 * (576 + 576 + 576 + 192) + 2 * 576
    # only the new rows of the embedding matrix are trainable
    trainable = [n for n, p in result.model.named_parameters() if p.requires_grad and "lora_" not in n]
    assert trainable and all("trainable_tokens_delta" in n for n in trainable)

    reloaded = HFGenerator(cfg.model_path, adapter=result.adapter_dir, device="cpu", batch_size=2)
    assert reloaded.tokenizer.convert_tokens_to_ids("<UN_MATH>") == result.token_ids["<UN_MATH>"]
    in_memory = HFGenerator(cfg.model_path, device="cpu", batch_size=2)
    base_ids = in_memory.tokenizer("What is 7 plus 7?", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        base_logits = in_memory.model(base_ids).logits
    in_memory.model, in_memory.tokenizer = result.model.eval(), result.tokenizer
    in_memory.tokenizer.padding_side = "left"
    with torch.inference_mode():
        trained = in_memory.model(base_ids).logits
        again = reloaded.model(base_ids).logits
    assert torch.allclose(trained, again, atol=1e-5)
    assert not torch.allclose(trained[..., : base_logits.shape[-1]], base_logits, atol=1e-3)  # the adapter acts
    assert greedy(reloaded, PROMPTS) == greedy(in_memory, PROMPTS)


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.timeout(900)
def test_vllm_serves_the_merged_adapter_with_the_same_greedy_outputs(embedded_adapter, tmp_path):
    """vLLM's LoRA loader takes neither trainable-token rows nor a grown vocabulary, so vLLM gets the merged model."""
    from backends.hf import HFGenerator
    from backends.lora_trainer import merge_adapter
    from backends.vllm_engine import vllm_available

    ok, why = vllm_available()
    if not ok:
        pytest.skip(f"vllm unavailable: {why}")
    from backends.vllm_engine import VLLMGenerator

    cfg, result, _ = embedded_adapter
    merged = merge_adapter(cfg.model_path, result.adapter_dir, tmp_path / "merged")
    expected = greedy(HFGenerator(cfg.model_path, adapter=result.adapter_dir, device="cpu"), PROMPTS)
    assert greedy(HFGenerator(merged, device="cpu"), PROMPTS) == expected
    engine = VLLMGenerator(merged, max_model_len=512, gpu_memory_utilization=0.5)
    try:
        assert engine.tokenizer.convert_tokens_to_ids("<CN_MATH>") == result.token_ids["<CN_MATH>"]
        assert greedy(engine, PROMPTS) == expected
    finally:
        engine.close()
