"""Statistics after the fact: one teacher-forced pass of the base model over a prompt and a finished answer.

Works on any answer, whoever wrote it and whichever engine served it (the reference's `stats_analysis` step).
Position i's statistics are those of the distribution that predicted answer token i (the logits at the token
before it), and of the attention of that same query, so they equal the ones recorded during hf generation.
"""

from __future__ import annotations

from typing import Any

from backends.guided.handover import decode, encode
from backends.guided.stats import logit_stats


def teacher_forced_stats(session: Any, prompt: Any, answer: str, attention: bool | None = None
                         ) -> list[dict[str, Any]]:
    """Per answer token (in the base tokenizer): position, token text, char offset, and the statistics."""
    import torch

    tok = session.tokenizer
    prompt_ids = session.render(prompt)
    answer_ids = encode(tok, answer)
    if not answer_ids:
        return []
    ids = prompt_ids + answer_ids
    want_attn = session.attention_stats if attention is None else attention
    start = len(prompt_ids) - 1
    with torch.no_grad():
        if want_attn:
            from backends.guided.attention import capture_attention

            with capture_attention(session.last_layer) as box:
                out = session.model(torch.tensor([ids], device=session.device))
            attn = box["rows"][0][start:len(ids) - 1]
        else:
            out = session.model(torch.tensor([ids], device=session.device))
            attn = [{}] * len(answer_ids)
    stats = logit_stats(out.logits[0, start:len(ids) - 1])
    rows, offset = [], 0
    for i, (st, at) in enumerate(zip(stats, attn, strict=True)):
        text = decode(tok, answer_ids[: i + 1])
        piece = text[offset:]
        rows.append({"position": i, "token": piece, "offset": offset, **st, **at})
        offset = len(text)
    return rows
