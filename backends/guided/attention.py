"""Last-layer attention statistics without `output_attentions`: an attention function that wraps SDPA.

`output_attentions` needs the eager kernel on every layer and returns post-softmax weights only (interaction
strength needs the pre-softmax scores). Instead the model is loaded with `attn_implementation="guided_stats"`,
registered here: every layer runs SDPA as usual, and while a `capture_attention` block is active the last layer
also computes its scores explicitly and hands them to `stats.attention_stats`. Outside such a block it costs
nothing extra. The attention itself is `backends.sdpa_gqa`'s (SDPA sharing key/value heads on the CPU).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from backends.guided.stats import attention_stats

IMPLEMENTATION = "guided_stats"
_state = threading.local()


def register() -> str:
    """Register the attention function and its mask builder (SDPA's) with transformers; returns the name."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    from backends.sdpa_gqa import attention_forward

    def guided_stats_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                               **kwargs: Any) -> Any:
        capture = getattr(_state, "capture", None)
        if capture is not None and getattr(module, "layer_idx", None) == capture["layer"]:
            capture["rows"] = _scores_stats(query, key, attention_mask, kwargs.get("scaling"))
        return attention_forward(module, query, key, value, attention_mask, **kwargs)

    AttentionInterface.register(IMPLEMENTATION, guided_stats_attention)
    AttentionMaskInterface.register(IMPLEMENTATION, sdpa_mask)
    return IMPLEMENTATION


@contextmanager
def capture_attention(layer: int) -> Iterator[dict[str, Any]]:
    """While active, the forward pass stores per-row, per-query attention stats of `layer` in `box["rows"]`."""
    box: dict[str, Any] = {"layer": layer, "rows": None}
    _state.capture = box
    try:
        yield box
    finally:
        _state.capture = None


def _scores_stats(query: Any, key: Any, mask: Any, scaling: float | None) -> list[list[dict[str, float]]]:
    """query [B, H, Q, D], key [B, Hkv, K, D], mask None | bool [B, 1, Q, K] | float additive."""
    import torch

    batch, heads, q_len, dim = query.shape
    k_len = key.shape[2]
    if key.shape[1] != heads:
        key = key.repeat_interleave(heads // key.shape[1], dim=1)
    scale = scaling if scaling is not None else dim ** -0.5
    scores = torch.matmul(query.float(), key.float().transpose(-1, -2)) * scale  # [B, H, Q, K]
    if mask is None:
        offset = k_len - q_len
        allowed = torch.ones(q_len, k_len, dtype=torch.bool, device=query.device).tril(diagonal=offset)
        allowed = allowed[None].expand(batch, q_len, k_len)
    elif mask.dtype == torch.bool:
        allowed = mask[:, 0, :, -k_len:]
    else:
        allowed = mask[:, 0, :, -k_len:] > torch.finfo(mask.dtype).min / 2
    return [attention_stats(scores[b], allowed[b]) for b in range(batch)]
