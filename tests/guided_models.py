"""Tiny random-weight causal LMs for guided-decoding tests: one on the embedded model's tokenizer, one on a
byte-level BPE tokenizer trained here on a few sentences (a different vocabulary, so text hand-over is exercised)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "What is two plus three? The answer is five.",
    "Guided decoding lets a small model write and a big oracle step in.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 100 2024, symbols + - * / = ( ) ? ! , . :",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ",
]


def bpe_tokenizer(vocab_size: int = 180) -> Any:
    """A byte-level BPE over the ASCII bytes seen in SENTENCES: every token decodes to valid text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>"], show_progress=False)
    tok.train_from_iterator(SENTENCES * 4, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>")


def tiny_llama(out: Path, tokenizer: Any, hidden: int = 32, layers: int = 2, heads: int = 4, kv_heads: int = 2,
               seed: int = 0, padded_rows: int = 0) -> str:
    """Save a random Llama with `tokenizer` to `out`; weights spread wide enough that greedy has no near-ties."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(tokenizer) + padded_rows, hidden_size=hidden, intermediate_size=hidden * 2,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                      max_position_embeddings=512, initializer_range=0.2, tie_word_embeddings=False,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    if padded_rows:  # rows past the tokenizer (as in padded real vocabularies), made to win every argmax
        with torch.no_grad():
            model.lm_head.weight[len(tokenizer):] *= 50
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)
