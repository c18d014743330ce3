"""The evaluation stage: final-token parsing, P(confident) from logprobs and from a real scoring pass, and the
stage over an inference run (tokens, missing, logprobs) and generating with the embedded model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from experiments import api
from experiments.datasets.base import DatasetSpec
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, SamplingSpec, spec_to_toml
from experiments.stages.evaluation.confidence import p_from_logprobs
from experiments.stages.evaluation.spec import EvaluationSpec
from experiments.stages.inference.spec import InferenceSpec
from experiments.stages.tagging.tokens import parse_final_token, strip_tokens


@pytest.fixture
def one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Workers (and this process) use one torch thread: on a box shared by many test processes, two spinning
    OpenMP threads per process made generation ~10x slower (measured: 143 s vs 13 s for 3 x 12 tokens)."""
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def wait_done(run_id: str, home: Path, timeout: float = 600) -> RunStore:
    store = RunStore.open(run_id, home)
    deadline = time.monotonic() + timeout
    while store.effective_status() in ("running", "queued"):
        assert time.monotonic() < deadline, f"{run_id} did not finish"
        time.sleep(0.2)
    assert store.effective_status() == "done", (store.manifest().get("error"), store.log_path.read_text()[-3000:])
    return store


def test_final_token_both_styles_and_missing() -> None:
    t = parse_final_token("I think <UN_MATH> no wait, 12. <CN_MATH>")
    assert (t.text, t.confident, t.domain, t.style, t.pair) == ("<CN_MATH>", True, "MATH", "angle",
                                                                ("<CN_MATH>", "<UN_MATH>"))
    t = parse_final_token("answer 3 <|c_math|> hmm <|u_med|>")
    assert (t.text, t.confident, t.domain, t.style, t.pair) == ("<|u_med|>", False, "MED", "pipe",
                                                                ("<|c_med|>", "<|u_med|>"))
    assert parse_final_token("The answer is 4.") is None
    assert parse_final_token("<cn_math> <CN_math>") is None  # not a token of either style
    assert strip_tokens("The answer is 4. <CN_MATH>") == "The answer is 4."


def test_p_from_logprobs_at_the_token_position() -> None:
    lp = [{"token": "4", "logprob": -0.1, "top": {"4": -0.1}},
          {"token": "<CN_MATH>", "logprob": -0.2, "top": {"<CN_MATH>": -0.2, " <UN_MATH>": -1.8, "x": -4.0}},
          {"token": "", "logprob": 0.0, "top": {}}]
    p, top = p_from_logprobs(lp, ("<CN_MATH>", "<UN_MATH>"))
    # normalised over the two: e^-0.2 / (e^-0.2 + e^-1.8)
    assert p == pytest.approx(1 / (1 + 2.718281828459045 ** -1.6)) and top == {"<CN_MATH>": -0.2, "<UN_MATH>": -1.8}
    # only one of the pair in the top-k: unknown (a scoring pass decides), never guessed
    assert p_from_logprobs(lp[:1] + [{"token": "<CN_MATH>", "logprob": -0.01, "top": {"<CN_MATH>": -0.01}}],
                           ("<CN_MATH>", "<UN_MATH>"))[0] is None
    assert p_from_logprobs(None, ("<CN_MATH>", "<UN_MATH>")) == (None, {})


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("one_torch_thread")
def test_scoring_pass_is_the_softmax_over_the_two_tokens(embedded_model: str) -> None:
    import torch

    from backends.base import GenerationRequest
    from backends.scoring import ConfidenceScorer, ScoreItem

    scorer = ConfidenceScorer("smollm2-135m", batch_size=4)
    tok = scorer.tokenizer
    messages = ({"role": "user", "content": "Is 2 + 2 = 4? Say yes or no."},)
    items = [ScoreItem(messages, "The answer is", (" yes", " no")),
             ScoreItem(messages, "The answer is", (" no", " yes")),
             ScoreItem(({"role": "user", "content": "What is 3 + 5?"},), "3 + 5 = 8 ", ("<CN_MATH>", "<UN_MATH>"))]
    p_yes, p_no, p_token = scorer.score(items)
    ids = scorer.generator.encode(GenerationRequest(key=0, messages=messages))[0] + \
        tok("The answer is", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = scorer.generator.model(input_ids=torch.tensor([ids])).logits[0, -1]
    pair = [tok(" yes", add_special_tokens=False)["input_ids"][0], tok(" no", add_special_tokens=False)["input_ids"][0]]
    assert p_yes == pytest.approx(float(torch.softmax(logits[pair].float(), -1)[0]), abs=1e-5)
    assert p_yes + p_no == pytest.approx(1.0, abs=1e-6)
    assert 0.0 < p_token < 1.0  # multi-piece tokens (no SFT yet): summed piece log-probabilities
    scorer.close()


def lora_adapter(model_path: str, out: Path) -> str:
    """A fresh peft LoRA adapter of the embedded model (zero-initialised B: the base model's outputs)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_path),
                           LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    model.save_pretrained(out)
    return str(out)


def inference_records() -> list[dict[str, Any]]:
    base = {"sample_idx": 0, "domain": "gsm8k", "source": "arith", "model": "smollm2-135m", "prompt_tokens": 10,
            "completion_tokens": 5, "finish_reason": "stop"}
    pair_top = {"<CN_MATH>": -0.1, "<UN_MATH>": -2.5}
    return [
        {**base, "example_id": "a", "question": "1+1?", "prompt": "1+1?", "gold": "2",
         "response": "It is 2. <CN_MATH>", "logprobs": [{"token": "<CN_MATH>", "logprob": -0.1, "top": pair_top}]},
        {**base, "example_id": "b", "question": "2+2?", "prompt": "2+2?", "gold": "4",
         "response": "It is 5. <UN_MATH>",
         "logprobs": [{"token": "<UN_MATH>", "logprob": -0.3, "top": {"<UN_MATH>": -0.3, "<CN_MATH>": -1.5}}]},
        {**base, "example_id": "c", "question": "3+3?", "prompt": "3+3?", "gold": "6",
         "response": "It is 7. <CN_MATH>", "logprobs": [{"token": "<CN_MATH>", "logprob": -0.1, "top": pair_top}]},
        {**base, "example_id": "d", "question": "4+4?", "prompt": "4+4?", "gold": "8", "response": "It is 8."},
    ]


def test_stage_over_an_inference_run(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from experiments.cli.main import main

    source = RunStore.create(spec_to_toml(InferenceSpec()), "inference", home)
    source.write_chunk(0, inference_records()[:2])
    source.write_chunk(1, inference_records()[2:])
    assert main(["evaluate", "--run", source.run_id, "--p-confident", "logprobs", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Token distribution" in printed and "calibration_accuracy  50.0%" in printed, printed
    store = RunStore.open("evaluation-", home)
    records = {r["example_id"]: r for r in store.records()}
    assert {k: (r["correct"], r["confident"], r["calibrated"]) for k, r in records.items()} == {
        "a": (True, True, True), "b": (False, False, True), "c": (False, True, False), "d": (True, None, False)}
    assert records["a"]["p_source"] == "logprobs" and records["d"]["p_confident"] is None
    assert "logprobs" not in records["a"]  # only the token position's top-k is kept
    summary = store.manifest()["summary"]
    assert summary["tokens"] == {"confident": 2, "uncertain": 1, "missing": 1}
    assert summary["calibration_accuracy"] == 0.5 and summary["accuracy"] == 0.5
    # right a (P .917) above wrong b (.231), tied with wrong c (.917): (1 + 0.5) / 2
    assert summary["scored"] == 3 and summary["auroc"] == pytest.approx(0.75)
    assert (store.outputs_dir / "calibration.json").exists()


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.usefixtures("one_torch_thread")
def test_stage_generates_with_the_embedded_model_and_scores(home: Path, embedded_model: str, tmp_path: Path) -> None:
    adapter = lora_adapter(embedded_model, tmp_path / "adapter")
    spec = EvaluationSpec(dataset=DatasetSpec(source="arith", limit=3), backend=BackendSpec(options={"batch_size": 3}),
                          sampling=SamplingSpec(max_tokens=12), chunk_size=2, adapter=adapter)
    store = wait_done(api.launch(spec, home), home)
    # the adapter reached the engine, and the scoring pass ran on that same engine (one model load)
    assert store.manifest()["backend"]["adapter"] == adapter
    assert store.manifest()["scoring"]["adapter"] == adapter
    records = store.records()
    assert len(records) == 3 and len(store.done_chunks()) == 2
    for r in records:  # the base model writes no token: all missing, P from the scoring pass at the answer's end
        assert r["confident"] is None and r["grade_status"] and r["p_source"] == "scoring"
        assert 0.0 < r["p_confident"] < 1.0
    summary = store.manifest()["summary"]
    assert summary["tokens"]["missing"] == 3 and summary["calibration_accuracy"] == 0.0
    assert store.manifest()["scoring"]["role"] == "scoring"
