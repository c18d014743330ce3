"""SDPA attention that lets the kernel share key/value heads (grouped-query attention) instead of copying them.

With an attention mask, transformers' `sdpa` path repeats every key/value head to match the query heads
(`repeat_kv`) before calling `scaled_dot_product_attention`: on the CPU that copy of the whole cache at every layer
and every step costs more than the attention itself (SmolLM2-135M: 9 query heads over 3 key/value heads). Torch's
CPU kernel takes `enable_gqa=True` with a mask and gives the same numbers, so on the CPU this implementation calls it
directly. Elsewhere (CUDA falls back to the math kernel for masked GQA) it is transformers' `sdpa` unchanged.
Imported only where a model is loaded (torch and transformers at the top: the function runs per layer and step).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

IMPLEMENTATION = "sdpa_gqa"


def attention_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                      dropout: float = 0.0, scaling: float | None = None, is_causal: bool | None = None,
                      **kwargs: Any) -> tuple[Any, None]:
    """transformers' attention-function signature; query [B, H, Q, D], key/value [B, Hkv, K, D]."""
    groups = getattr(module, "num_key_value_groups", 1)
    plain = (query.device.type != "cpu" or groups <= 1 or kwargs.get("position_bias") is not None
             or kwargs.get("cache") is not None or kwargs.get("output_attentions"))
    if plain:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    causal = bool(query.shape[2] > 1 and attention_mask is None and causal)
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling, is_causal=causal,
        enable_gqa=True)
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Register the implementation (with SDPA's mask builder) with transformers; returns its name."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(IMPLEMENTATION, attention_forward)
    AttentionMaskInterface.register(IMPLEMENTATION, sdpa_mask)
    return IMPLEMENTATION
