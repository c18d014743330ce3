"""Continuous batching in the hf backend writes what `generate` in fixed batches writes: greedy, seeded samples,
stop strings, EOS ignored, logprobs; slots are reused as rows end (more prompts than slots), and answers that end
early leave at once."""

from __future__ import annotations

from typing import Any

import pytest

from backends.base import GenerationRequest, SamplingParams

QUESTIONS = ["What is 2 + 3?", "Name a colour.", "Count to three.", "What is the capital of France?",
             "What is 10 minus 4? Answer with the number."]


@pytest.fixture(scope="module")
def generators(embedded_model: str, one_torch_thread: None) -> tuple[Any, Any]:
    from backends.hf import HFGenerator

    plain = HFGenerator(embedded_model, batch_size=4, continuous=False)
    rolling = HFGenerator(embedded_model, batch_size=2, continuous=True)
    rolling.model = plain.model  # one model in memory: the two paths differ only in how they batch
    return plain, rolling


def results(generator: Any, params: SamplingParams) -> dict[tuple[Any, int], tuple[Any, ...]]:
    reqs = [GenerationRequest(key=i, messages=({"role": "user", "content": q},)) for i, q in enumerate(QUESTIONS)]
    out = {}
    for r in generator.generate(reqs, params):
        lps = [(lp.token, round(lp.logprob, 3)) for lp in r.logprobs] if r.logprobs is not None else None
        out[(r.key, r.sample_idx)] = (r.text, r.finish_reason, r.completion_tokens, r.prompt_tokens, lps)
    return out


@pytest.mark.parametrize("params", [
    SamplingParams(max_tokens=9, logprobs=2, stop=(".",)),
    SamplingParams(n=2, temperature=0.8, max_tokens=6, seed=5, ignore_eos=True),
], ids=["greedy+logprobs+stop", "seeded-n2-ignore-eos"])
def test_continuous_batching_writes_what_fixed_batches_write(generators: tuple[Any, Any],
                                                              params: SamplingParams) -> None:
    from backends.hf_continuous import ContinuousBatcher

    plain, rolling = generators
    assert rolling.continuous and not plain.continuous
    want, got = results(plain, params), results(rolling, params)
    assert got == want
    assert len(got) == len(QUESTIONS) * params.n
    if params.stop:
        assert any(v[1] == "stop" for v in got.values()), "a stop string must end some answers early"
        batcher = ContinuousBatcher(rolling, 2)
        list(batcher.generate(iter([GenerationRequest(key=0, messages=({"role": "user", "content": "Hi."},))]),
                              params))
        assert batcher.forward_calls <= params.max_tokens  # the prompt, then one forward per token until the end
