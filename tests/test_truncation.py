"""Truncation cuts the prompt's content and keeps the chat template (system header, assistant generation header),
on the real hf backend, the shared fitter, and the OpenAI-compatible client against a local HTTP server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backends.base import GenerationRequest, PromptTooLong, SamplingParams
from backends.openai_compat import OpenAICompatGenerator
from backends.prompt_fit import fit_prompt, render_ids
from tests.test_openai_compat import FakeAPI

SYSTEM = "You are a careful assistant."
WORDS = " ".join(f"w{i}" for i in range(300))
LIMIT = 60


def chat(key: object, text: str = WORDS) -> GenerationRequest:
    return GenerationRequest(key=key, messages=({"role": "system", "content": SYSTEM},
                                                {"role": "user", "content": text}))


@pytest.fixture(scope="module")
def tokenizer(embedded_model: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model)


def assert_template_kept(text: str) -> None:
    assert text.startswith("<|im_start|>system\n" + SYSTEM), text[:80]
    assert text.endswith("<|im_start|>assistant\n"), text[-80:]
    assert "<|im_start|>user\n" in text


def test_fit_keeps_headers_both_sides(tokenizer: Any) -> None:
    for side, kept, dropped in (("left", "w299", "w0 "), ("right", "w0 ", "w299")):
        fitted = fit_prompt(tokenizer, chat(side), LIMIT, side)
        assert fitted.truncated and len(fitted.ids) <= LIMIT
        assert len(fitted.ids) >= LIMIT - 3, "the content fills the room the template leaves"
        text = tokenizer.decode(fitted.ids)
        assert_template_kept(text)
        content = fitted.request.messages[-1]["content"]
        assert kept in content and dropped not in content
        assert fitted.request.messages[0]["content"] == SYSTEM


def test_fit_short_prompt_untouched_and_errors(tokenizer: Any) -> None:
    short = chat("s", "What is 2 + 2?")
    fitted = fit_prompt(tokenizer, short, LIMIT, "left")
    assert not fitted.truncated and fitted.request == short and fitted.ids == render_ids(tokenizer, short)
    with pytest.raises(PromptTooLong, match="max_prompt_length 60"):
        fit_prompt(tokenizer, chat("e"), LIMIT, "error")
    long_system = GenerationRequest("x", messages=({"role": "system", "content": WORDS},
                                                   {"role": "user", "content": "hi"}))
    with pytest.raises(PromptTooLong, match="no part of the content fits"):
        fit_prompt(tokenizer, long_system, LIMIT, "left")
    raw = fit_prompt(tokenizer, GenerationRequest("r", prompt=WORDS), 20, "left")
    assert raw.truncated and len(raw.ids) <= 20 and raw.request.prompt.endswith("w299")


@pytest.mark.slow
def test_hf_backend_truncation_keeps_template(embedded_model: str) -> None:
    from backends.hf import HFGenerator

    gen = HFGenerator("smollm2-135m", max_prompt_length=LIMIT, truncation="left")
    try:
        for side in ("left", "right"):
            gen.truncation = side
            ids, truncated = gen.encode(chat(side))
            assert truncated and len(ids) <= LIMIT
            assert_template_kept(gen.tokenizer.decode(ids))
        [result] = list(gen.generate([chat("g")], SamplingParams(max_tokens=3)))
        assert result.prompt_truncated and result.prompt_tokens <= LIMIT and result.finish_reason != "error"
    finally:
        gen.close()


def test_openai_compat_cuts_content_with_the_models_tokenizer(tokenizer: Any) -> None:
    api = FakeAPI()
    gen = OpenAICompatGenerator(api.base_url, "served-name", tokenizer="smollm2-135m", max_prompt_length=LIMIT,
                                truncation="left")
    try:
        results = list(gen.generate([chat("long"), chat("short", "Hi")], SamplingParams(max_tokens=4)))
        by_key = {r.key: r for r in results}
        assert by_key["long"].prompt_truncated and not by_key["short"].prompt_truncated
        sent = {tuple(m["content"] for m in b["messages"])[-1]: b["messages"] for b in api.bodies}
        long_messages = next(m for c, m in sent.items() if c != "Hi")
        assert long_messages[0] == {"role": "system", "content": SYSTEM}
        assert long_messages[-1]["content"].endswith("w299") and "w0 " not in long_messages[-1]["content"]
        assert len(render_ids(tokenizer, GenerationRequest("x", messages=tuple(long_messages)))) <= LIMIT
        assert gen.describe()["max_prompt_length"] == LIMIT
        gen.truncation = "error"
        [err] = list(gen.generate([chat("again")], SamplingParams()))
        assert err.finish_reason == "error" and "max_prompt_length" in (err.error or "")
    finally:
        gen.close()
        api.close()


def test_openai_compat_refuses_a_limit_without_a_tokenizer(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tokenizer"):
        OpenAICompatGenerator("http://127.0.0.1:9/v1", "some-remote-model", max_prompt_length=LIMIT)
    # no limit: no tokenizer needed, nothing loaded
    gen = OpenAICompatGenerator("http://127.0.0.1:9/v1", "some-remote-model")
    assert gen.tokenizer is None
    gen.close()


def test_inference_run_passes_the_limit_to_openai_compat(home: Path, tmp_path: Path, embedded_model: str) -> None:
    """open_generator hands max_prompt_length/truncation (and the spec's model as tokenizer) to openai_compat."""
    from experiments.datasets.base import DatasetSpec
    from experiments.runs.context import StageContext
    from experiments.runs.emit import Emitter
    from experiments.runs.store import RunStore
    from experiments.specs import BackendSpec, SamplingSpec, spec_to_toml
    from experiments.stages.inference.run import run
    from experiments.stages.inference.spec import InferenceSpec

    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"question": "Repeat: " + WORDS, "answer": "#### 1"}) + "\n")
    api = FakeAPI()
    try:
        spec = InferenceSpec(dataset=DatasetSpec(source=str(data), domain="gsm8k"), model="smollm2-135m",
                             backend=BackendSpec(kind="openai_compat", options={"base_url": api.base_url}),
                             sampling=SamplingSpec(max_tokens=4), max_prompt_length=80, truncation="right")
        store = RunStore.create(spec_to_toml(spec), "inference", home)
        run(spec, StageContext(store=store, emit=Emitter(store.events_path, store.run_id), home=home))
        [record] = store.records()
        assert record["prompt_truncated"] is True
        [body] = api.bodies
        assert body["messages"][-1]["content"].startswith("Repeat: w0 w1")
        assert "#### <number>" not in body["messages"][-1]["content"]  # right cut keeps the start of the content
    finally:
        api.close()
