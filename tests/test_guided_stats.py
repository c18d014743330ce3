"""Guided statistics against direct numpy computations on small tensors (NaN-free edge cases included)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends.guided.stats import attention_stats, logit_stats, stats_from_top_logprobs


def np_logit_stats(logits: np.ndarray) -> dict[str, float]:
    z = logits - logits.max()
    p = np.exp(z) / np.exp(z).sum()
    nz = p > 0  # 0 log 0 = 0
    log2p = np.log2(p[nz])
    h = -(p[nz] * log2p).sum()
    top = np.sort(p)[::-1]
    return {"entropy": h, "varentropy": (p[nz] * (log2p + h) ** 2).sum(), "top1_p": top[0],
            "top1_margin": top[0] - (top[1] if len(top) > 1 else 0.0)}


def np_attention_stats(scores: np.ndarray, allowed: np.ndarray) -> list[dict[str, float]]:
    """scores [H, Q, K], allowed [Q, K]: a loop over queries, keys restricted to the allowed ones."""
    out = []
    for q in range(scores.shape[1]):
        keys = np.flatnonzero(allowed[q])
        s = scores[:, q, keys]  # [H, n]
        a = np.exp(s - s.max(1, keepdims=True))
        a /= a.sum(1, keepdims=True)
        ent = -(a * np.log2(a)).sum(1)
        out.append({"attn_entropy": ent.mean(), "attn_varentropy": ent.var(),
                    "agreement": np.abs(a - a.mean(0, keepdims=True)).mean(),
                    "interaction": np.abs(s).mean()})
    return out


def close(got: dict[str, float], want: dict[str, float]) -> None:
    assert set(want) <= set(got)
    for key, value in want.items():
        assert not math.isnan(got[key]), key
        assert got[key] == pytest.approx(float(value), rel=1e-4, abs=1e-5), key


def test_logit_stats_match_numpy() -> None:
    import torch

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 11)) * 3
    logits[2] = -1e9  # flat row after masking
    logits[2, 3] = 5.0  # one certain token: H = 0, varentropy 0
    for got, row in zip(logit_stats(torch.tensor(logits, dtype=torch.float32)), logits, strict=True):
        close(got, np_logit_stats(row))
    [single] = logit_stats(torch.tensor([[1.5]]))  # a one-token vocabulary
    close(single, {"entropy": 0.0, "varentropy": 0.0, "top1_p": 1.0, "top1_margin": 1.0})


def test_attention_stats_match_numpy_with_holes() -> None:
    import torch

    rng = np.random.default_rng(1)
    scores = rng.normal(size=(3, 4, 6)).astype(np.float32) * 2
    allowed = np.tril(np.ones((4, 6), dtype=bool), k=2)
    allowed[:, 1] = False  # a cache hole (masked column) takes no part
    got = attention_stats(torch.tensor(scores), torch.tensor(allowed))
    for g, w in zip(got, np_attention_stats(scores, allowed), strict=True):
        close(g, w)


def test_attention_stats_single_head_and_position_are_nan_free() -> None:
    import torch

    [one] = attention_stats(torch.tensor([[[0.7]]]), torch.tensor([[True]]))
    close(one, {"attn_entropy": 0.0, "attn_varentropy": 0.0, "agreement": 0.0, "interaction": 0.7})
    two = attention_stats(torch.tensor([[[0.3, -1.0]]]), torch.tensor([[True, True]]))[0]
    close(two, np_attention_stats(np.array([[[0.3, -1.0]]]), np.array([[True, True]]))[0])


@pytest.mark.slow
def test_captured_attention_matches_eager_weights(tmp_path) -> None:
    """The SDPA wrapper's last-layer stats == numpy over the eager kernel's attention weights (GQA, padding)."""
    import torch
    from transformers import AutoModelForCausalLM

    from backends.guided.attention import capture_attention, register
    from tests.guided_models import bpe_tokenizer, tiny_llama

    path = tiny_llama(tmp_path / "m", bpe_tokenizer(), heads=4, kv_heads=2)
    eager = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager").eval()
    ours = AutoModelForCausalLM.from_pretrained(path, attn_implementation=register()).eval()
    ids = torch.tensor([[0, 5, 9, 12, 7, 30], [8, 3, 44, 2, 19, 6]])
    mask = torch.tensor([[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        weights = eager(input_ids=ids, attention_mask=mask, output_attentions=True).attentions[-1].numpy()
        with capture_attention(1) as box:
            ours(input_ids=ids, attention_mask=mask)
    for b in range(2):
        for q in range(1, 6):
            keys = [j for j in range(q + 1) if mask[b, j]]
            a = weights[b][:, q][:, keys]  # [H, keys]
            ent = -(a * np.log2(a)).sum(1)
            got = box["rows"][b][q]
            assert got["attn_entropy"] == pytest.approx(ent.mean(), rel=1e-3)
            assert got["attn_varentropy"] == pytest.approx(ent.var(), rel=1e-3, abs=1e-6)
            assert got["agreement"] == pytest.approx(np.abs(a - a.mean(0)).mean(), rel=1e-3, abs=1e-6)
            assert got["interaction"] > 0


def test_top_logprob_estimate() -> None:
    top = {1: math.log(0.5), 2: math.log(0.25)}
    got = stats_from_top_logprobs(top)
    want = np_logit_stats(np.log(np.array([0.5, 0.25, 0.25])))
    close(got, want)
