"""P(confident) by a scoring pass: teacher-force prompt + response-before-the-token through a transformers model.

Engines that return no logprobs at the token's position (or none at all) still let us read the model's belief:
the chat-rendered prompt and the response up to where the confidence token goes are fed in one forward pass with
each candidate token appended, and P(confident) = p(c) / (p(c) + p(u)). When both tokens are single vocabulary
entries (a model trained with them) this is exactly the softmax over the two token ids at that position,
normalised over the two; otherwise each candidate's log-probability is the sum over its pieces.
The model (and adapter) is loaded through `HFGenerator`, so the scorer sees exactly the generator's weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from backends.base import GenerationRequest, PromptTooLong


@dataclass(frozen=True)
class ScoreItem:
    messages: tuple[dict[str, str], ...]
    prefix: str  # the response text before the confidence token
    pair: tuple[str, str]  # (confident token, uncertain token)


class ConfidenceScorer:
    """Scores `ScoreItem`s in batches of `batch_size` items (two sequences each)."""

    def __init__(self, model: str = "smollm2-135m", adapter: str | None = None, device: str | None = None,
                 dtype: str = "auto", batch_size: int = 8, generator: Any = None, progress: Any = None) -> None:
        from backends.hf import HFGenerator

        self.generator = generator or HFGenerator(model, batch_size=batch_size, device=device, dtype=dtype,
                                                  adapter=adapter, progress=progress)
        self.batch_size = max(1, batch_size)

    @property
    def tokenizer(self) -> Any:
        return self.generator.tokenizer

    def describe(self) -> dict[str, Any]:
        return {**self.generator.describe(), "role": "scoring"}

    def close(self) -> None:
        self.generator.close()

    def candidate_ids(self, token: str) -> list[int]:
        return self.tokenizer(token, add_special_tokens=False)["input_ids"]

    def _sequences(self, item: ScoreItem) -> tuple[list[int], list[list[int]]] | None:
        try:
            prompt_ids, _ = self.generator.encode(GenerationRequest(key=0, messages=item.messages))
        except PromptTooLong:
            return None
        context = prompt_ids + self.tokenizer(item.prefix, add_special_tokens=False)["input_ids"]
        return context, [self.candidate_ids(t) for t in item.pair]

    def score(self, items: Sequence[ScoreItem]) -> list[float | None]:
        """P(confident) per item (None when its prompt is too long for the model's limit)."""
        out: list[float | None] = []
        for start in range(0, len(items), self.batch_size):
            out.extend(self._score_batch(items[start:start + self.batch_size]))
        return out

    def _score_batch(self, items: Sequence[ScoreItem]) -> Iterator[float | None]:
        import torch

        built = [self._sequences(item) for item in items]
        rows: list[tuple[int, list[int], int]] = []  # (item, ids, candidate start)
        for k, b in enumerate(built):
            if b is not None:
                context, candidates = b
                rows += [(k, context + cand, len(context)) for cand in candidates]
        logps: dict[tuple[int, int], float] = {}
        if rows:
            width = max(len(ids) for _, ids, _ in rows)
            pad = self.tokenizer.pad_token_id or 0
            input_ids = torch.full((len(rows), width), pad, dtype=torch.long)  # right padding: positions stay put
            attention = torch.zeros((len(rows), width), dtype=torch.long)
            for r, (_, ids, _) in enumerate(rows):
                input_ids[r, :len(ids)] = torch.tensor(ids, dtype=torch.long)
                attention[r, :len(ids)] = 1
            model = self.generator.model
            with torch.inference_mode():
                logits = model(input_ids=input_ids.to(model.device), attention_mask=attention.to(model.device)).logits
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()
            seen: dict[int, int] = {}
            for r, (k, ids, cand_start) in enumerate(rows):
                which = seen.get(k, 0)
                seen[k] = which + 1
                logps[(k, which)] = float(sum(logp[r, t - 1, ids[t]] for t in range(cand_start, len(ids))))
        for k, b in enumerate(built):
            if b is None:
                yield None
            else:
                yield pair_probability(logps[(k, 0)], logps[(k, 1)])


def pair_probability(logp_confident: float, logp_uncertain: float) -> float:
    """p(c) / (p(c) + p(u)) from two log-probabilities, without overflow."""
    diff = logp_uncertain - logp_confident
    if diff > 700:
        return 0.0
    return 1.0 / (1.0 + math.exp(diff))
