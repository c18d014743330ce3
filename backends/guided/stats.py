"""Per-position statistics of a model's next-token distribution and last-layer attention, in bits.

Definitions (entropix-style, exact on the full vocabulary):
- entropy H = -sum p log2 p; varentropy = sum p (log2 p + H)^2; top1_p; top1_margin = p1 - p2;
- per head h of the last layer, a_h = softmax of the query's pre-softmax scores over its causal (unmasked) keys:
  attn_entropy = mean_h H(a_h); attn_varentropy = var_h H(a_h) (population variance: 0 for one head, never NaN);
  agreement = mean over heads and keys of |a_h - mean_h a|; interaction = mean over heads and keys of |score|.
Masked keys (padding, cache holes) take no part in any of them, so a batched cache gives the same numbers as a
single sequence.
"""

from __future__ import annotations

import math
from typing import Any

LOGIT_KEYS = ("entropy", "varentropy", "top1_p", "top1_margin")
ATTN_KEYS = ("attn_entropy", "attn_varentropy", "agreement", "interaction")
LN2 = math.log(2.0)


def logit_stats(logits: Any) -> list[dict[str, float]]:
    """Stats of each row of `logits` [N, V] (torch). Returns one dict per row."""
    return [dict(zip(LOGIT_KEYS, r, strict=True)) for r in logit_stats_tensor(logits).tolist()]


def logit_stats_tensor(logits: Any) -> Any:
    """Stats of each row of `logits` [N, V] as a tensor [N, 4] (columns in `LOGIT_KEYS` order), on its device.

    log p is floored at -1e4 nats: p is exactly 0 there in float32, so 0 * finite = 0 where -inf would give NaN.
    """
    import torch

    logits = logits.float()
    if logits.dim() == 1:
        logits = logits[None]
    log2p = torch.log_softmax(logits, dim=-1).clamp_(min=-1e4).div_(LN2)
    p = torch.exp2(log2p)
    entropy = -(p * log2p).sum(-1)
    varentropy = (p * (log2p + entropy[:, None]).square_()).sum(-1)
    k = min(2, p.shape[-1])
    top = torch.topk(p, k, dim=-1).values
    margin = top[:, 0] - top[:, 1] if k == 2 else top[:, 0]
    return torch.stack([entropy, varentropy, top[:, 0], margin], dim=-1)


def attention_stats(scores: Any, allowed: Any) -> list[dict[str, float]]:
    """Stats per query from pre-softmax `scores` [H, Q, K] and a boolean `allowed` [Q, K] (True = may attend)."""
    import torch

    scores = scores.float()
    allowed = allowed.to(torch.bool)
    neg = torch.finfo(scores.dtype).min
    masked = scores.masked_fill(~allowed[None], neg)
    logp = torch.log_softmax(masked, dim=-1)
    p = logp.exp() * allowed[None]
    ent = -(torch.where(allowed[None], p * logp, torch.zeros_like(p))).sum(-1) / LN2  # [H, Q]
    count = allowed.sum(-1).clamp(min=1).float()  # [Q]
    heads = scores.shape[0]
    mean_p = p.mean(0, keepdim=True)
    agreement = (p - mean_p).abs().sum(-1).sum(0) / (count * heads)
    interaction = (scores.abs() * allowed[None]).sum(-1).sum(0) / (count * heads)
    var = ((ent - ent.mean(0, keepdim=True)) ** 2).mean(0)
    rows = torch.stack([ent.mean(0), var, agreement, interaction], dim=-1).tolist()
    return [dict(zip(ATTN_KEYS, r, strict=True)) for r in rows]


def stats_from_top_logprobs(top: dict[Any, float]) -> dict[str, float]:
    """Approximate logit stats from a served engine's top-k logprobs (the unseen tail is one lumped outcome).

    Served engines return only the top k, so this is a lower bound on entropy; hf sessions are exact.
    """
    probs = sorted((math.exp(v) for v in top.values()), reverse=True)
    if not probs:
        return {}
    tail = max(0.0, 1.0 - sum(probs))
    outcomes = [p for p in probs + [tail] if p > 0]
    h = -sum(p * math.log2(p) for p in outcomes)
    v = sum(p * (math.log2(p) + h) ** 2 for p in outcomes)
    second = probs[1] if len(probs) > 1 else 0.0
    return {"entropy": h, "varentropy": v, "top1_p": probs[0], "top1_margin": probs[0] - second}
