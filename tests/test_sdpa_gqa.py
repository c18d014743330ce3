"""`backends.sdpa_gqa`: the same attention as transformers' stock `sdpa`, without copying key/value heads."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="module")
def pair(embedded_model: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM

    from backends.sdpa_gqa import register

    stock = AutoModelForCausalLM.from_pretrained(embedded_model, attn_implementation="sdpa").eval()
    ours = AutoModelForCausalLM.from_pretrained(embedded_model, attn_implementation=register()).eval()
    return stock, ours


def test_padded_batch_and_cached_decode_match_stock_sdpa(pair: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """A left-padded batch (a mask: the case where stock `sdpa` repeats heads) and the cached decode steps after
    it give the stock logits, and the shared-head kernel call is the one that ran."""
    import torch
    import torch.nn.functional as F

    stock, ours = pair
    assert ours.config.num_attention_heads > ours.config.num_key_value_heads  # the embedded model is GQA
    torch.manual_seed(0)
    ids = torch.randint(100, 5000, (3, 12))
    mask = torch.ones_like(ids)
    mask[0, :5] = 0
    mask[2, :2] = 0
    calls: list[bool] = []
    real = F.scaled_dot_product_attention

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(bool(kwargs.get("enable_gqa")))
        return real(*args, **kwargs)

    with torch.no_grad():
        want = stock.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, do_sample=False,
                              pad_token_id=0, output_logits=True, return_dict_in_generate=True)
        monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
        got = ours.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, do_sample=False,
                            pad_token_id=0, output_logits=True, return_dict_in_generate=True)
    assert calls and all(calls)
    assert torch.equal(got.sequences, want.sequences)
    for a, b in zip(got.logits, want.logits, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_hf_backends_load_it(embedded_model: str) -> None:
    from backends.guided.hf_session import HFSession

    assert HFSession(embedded_model, device="cpu").model.config._attn_implementation == "sdpa_gqa"
    stats = HFSession(embedded_model, device="cpu", attention_stats=True)
    assert stats.model.config._attn_implementation == "guided_stats"
