"""A vLLM logits processor that never lets an engine sample an id past its tokenizer.

Embedding matrices are often padded past the tokenizer (Qwen2.5: 151,936 rows for 151,665 tokens; a random-weight
model of a real shape with a smaller tokenizer: far more). Those ids are no token: their text is empty and the
other model of a guided pair may not have them at all (vLLM rejects a prompt holding one). Trained models rarely
pick them; random weights do all the time. Named as "module:class" in `LLM(logits_processors=[...])`, so the
engine's own process imports it; it costs one slice fill per step, and nothing where the vocabularies match.
"""

from __future__ import annotations

from typing import Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor


class TokenizerVocabLimit(LogitsProcessor):
    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool) -> None:
        from transformers import AutoTokenizer

        model = vllm_config.model_config
        tokenizer = AutoTokenizer.from_pretrained(model.tokenizer, revision=model.tokenizer_revision,
                                                  trust_remote_code=model.trust_remote_code)
        self.limit = len(tokenizer)
        self.active = self.limit < model.get_vocab_size()

    def is_argmax_invariant(self) -> bool:
        return not self.active

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        return None

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if self.active and logits.shape[-1] > self.limit:
            logits[:, self.limit:] = float("-inf")
        return logits
