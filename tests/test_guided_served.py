"""Guided sessions over served engines: an OpenAI-compatible oracle over real HTTP on 127.0.0.1, and vLLM."""

from __future__ import annotations

from typing import Any

import pytest

from backends.guided.session import GuidedLoop, GuidedParams
from experiments.stages.guided.policies import make_policy
from tests.guided_models import tiny_llama

PROMPTS = ["What is two plus three?", "The quick brown fox", "Numbers: 1 2 3 4 5 6 7 8 9 10 11 12 and so on, say"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, embedded_model: str) -> dict[str, str]:
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("guided_served")
    tok = AutoTokenizer.from_pretrained(embedded_model)
    return {"base": tiny_llama(root / "b", tok, seed=5),
            "oracle": tiny_llama(root / "o", tok, hidden=48, layers=3, heads=6, kv_heads=3, seed=6)}


def tokens(seqs: list[Any]) -> list[list[tuple[int, str]]]:
    return [[(p.token_id, p.source) for p in s.pieces] for s in seqs]


@pytest.mark.slow
def test_openai_compat_oracle_over_http_matches_hf(tiny: dict[str, str]) -> None:
    from backends.guided.hf_session import HFSession
    from backends.guided.served_session import OpenAICompatSession
    from backends.hf_server import HFCompletionServer

    params = GuidedParams(c=3, k=3, step_size=4, max_new_tokens=24)
    base = HFSession(tiny["base"], device="cpu")
    local = GuidedLoop(base, HFSession(tiny["oracle"], device="cpu"), make_policy("always"), params).run(PROMPTS)
    server = HFCompletionServer(tiny["oracle"])
    try:
        oracle = OpenAICompatSession(model="tiny", base_url=server.base_url, tokenizer=tiny["oracle"],
                                     concurrency=4)
        served = GuidedLoop(base, oracle, make_policy("always"), params).run(PROMPTS)
        assert tokens(served) == tokens(local)
        assert sum(s.consultations for s in served) == server.requests == oracle.requests > 0
        # a served base: its boundary statistics come from top-k logprobs (an estimate), the policy still works
        served_base = OpenAICompatSession(model="tiny", base_url=server.base_url, tokenizer=tiny["oracle"])
        seqs = GuidedLoop(served_base, HFSession(tiny["base"], device="cpu"), make_policy("entropy", threshold=0.0),
                          GuidedParams(c=1, k=2, step_size=3, max_new_tokens=8)).run(PROMPTS[:1])
        assert seqs[0].cheat_positions and 0 < seqs[0].pieces[seqs[0].cheat_positions[0]].stats["entropy"]
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.timeout(900)  # the engine starts in ~40-60 s on an idle 2-core box, minutes on a loaded one
def test_vllm_sessions_match_one_at_a_time_reference(embedded_model: str) -> None:
    """Batched vLLM guided decoding (prefix caching) == a loop that re-sends each prompt's whole text alone."""
    from backends.vllm_engine import vllm_available, vllm_installed

    if not vllm_installed() or not vllm_available()[0]:
        pytest.skip("vllm is not usable here")
    from backends.guided.hf_session import HFSession
    from backends.guided.served_session import VLLMSession

    base = VLLMSession("smollm2-135m", max_model_len=1024)
    try:
        oracle = VLLMSession("smollm2-135m", share=base)
        params = GuidedParams(c=1, k=3, step_size=4, max_new_tokens=12)
        batched = GuidedLoop(base, oracle, make_policy("always"), params).run(PROMPTS[:2])
        one_by_one = [GuidedLoop(base, oracle, make_policy("always"), params).run([p])[0] for p in PROMPTS[:2]]
        assert tokens(batched) == tokens(one_by_one)
        rows = GuidedLoop(base, oracle, make_policy("always"), GuidedParams(**{**params.__dict__, "pipelined": True}))
        assert tokens(rows.run(PROMPTS[:2])) == tokens(batched)  # the pipelined schedule writes the same
        assert base.driver.stats.calls > 0 and base.driver.stats.row_requests > 0  # both schedules ran
        assert any(s.cheat_positions for s in batched)  # a row may end on EOS before its first consult
        # the same text as the hf cache path (fp32 greedy on both engines)
        hf = HFSession("smollm2-135m", device="cpu")
        reference = GuidedLoop(hf, HFSession("smollm2-135m", device="cpu"), make_policy("always"),
                               params).run(PROMPTS[:2])
        assert tokens(batched) == tokens(reference)
    finally:
        base.close()


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.timeout(900)
def test_vllm_session_never_samples_ids_past_the_tokenizer(tmp_path: Any, embedded_model: str) -> None:
    """A vocabulary padded past the tokenizer (real Qwen shapes, random weights): the padded ids win the raw argmax,
    yet neither engine writes one, so the other model of the pair is never handed a non-token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from backends.guided.hf_session import HFSession
    from backends.vllm_engine import vllm_available, vllm_installed

    if not vllm_installed() or not vllm_available()[0]:
        pytest.skip("vllm is not usable here")
    from backends.guided.served_session import VLLMSession

    tok = AutoTokenizer.from_pretrained(embedded_model)
    # head_dim 64: the smallest that vLLM's CPU attention takes
    path = tiny_llama(tmp_path / "padded", tok, hidden=128, heads=2, kv_heads=1, seed=7, padded_rows=4096)
    raw = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():
        picks = raw(torch.tensor([tok.encode(PROMPTS[0])])).logits[0].argmax(-1)
    assert (picks >= len(tok)).any(), "the padded rows must tempt an unguarded engine, or this proves nothing"
    params = GuidedParams(c=2, k=3, step_size=3, max_new_tokens=12, ignore_eos=True)
    hf = GuidedLoop(HFSession(path, device="cpu"), HFSession(path, device="cpu"), make_policy("always"),
                    params).run(PROMPTS[:2])
    base = VLLMSession(path, max_model_len=512)
    try:
        served = GuidedLoop(base, VLLMSession(path, share=base), make_policy("always"), params).run(PROMPTS[:2])
    finally:
        base.close()
    for seqs in (hf, served):
        ids = [p.token_id for s in seqs for p in s.pieces]
        assert len(ids) == 24 and max(ids) < len(tok)
    assert tokens(served) == tokens(hf)
