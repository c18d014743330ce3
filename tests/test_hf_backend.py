"""The transformers backend on the embedded model, for real (CPU)."""

from __future__ import annotations

import pytest

from backends.base import GenerationRequest, SamplingParams

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generator(embedded_model: str):  # noqa: ANN201
    from backends.hf import HFGenerator

    gen = HFGenerator("smollm2-135m", batch_size=4, max_prompt_length=64, truncation="error")
    yield gen
    gen.close()


def chat(key: object, text: str) -> GenerationRequest:
    return GenerationRequest(key=key, messages=({"role": "user", "content": text},))


def test_batched_left_padding_matches_single(generator) -> None:  # noqa: ANN001
    params = SamplingParams(max_tokens=8)
    prompts = ["What is 2 + 2?", "Name a colour of the sky on a clear summer day, please."]
    batched = {r.key: r.text for r in generator.generate([chat(i, p) for i, p in enumerate(prompts)], params)}
    for i, prompt in enumerate(prompts):
        single = next(iter(generator.generate([chat(i, prompt)], params)))
        assert single.text == batched[i], "left padding must not change greedy output"
        assert single.completion_tokens > 0 and single.prompt_tokens > 5


def test_n_samples_logprobs_and_seed(generator) -> None:  # noqa: ANN001
    params = SamplingParams(n=3, temperature=0.9, max_tokens=6, seed=7, logprobs=2)
    first = list(generator.generate([chat("a", "Tell me a word.")], params))
    assert sorted(r.sample_idx for r in first) == [0, 1, 2]
    assert all(r.logprobs and len(r.logprobs[0].top) == 2 for r in first)
    again = list(generator.generate([chat("a", "Tell me a word.")], params))
    assert [r.text for r in first] == [r.text for r in again], "same seed and keys -> same samples"


def test_prompt_too_long_is_a_per_request_error(generator) -> None:  # noqa: ANN001
    results = list(generator.generate([chat("long", "word " * 200), chat("ok", "Hi")], SamplingParams(max_tokens=4)))
    by_key = {r.key: r for r in results}
    assert by_key["long"].finish_reason == "error" and "max_prompt_length" in by_key["long"].error
    assert by_key["ok"].finish_reason in ("stop", "length") and by_key["ok"].error is None


def test_truncation_left_keeps_the_end(embedded_model: str) -> None:
    from backends.hf import HFGenerator

    gen = HFGenerator("smollm2-135m", max_prompt_length=48, truncation="left")
    ids, truncated = gen.encode(chat("x", "one two three " * 20))
    assert truncated and 44 <= len(ids) <= 48
    text = gen.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system") and text.endswith("assistant\n")
