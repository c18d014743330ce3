"""The tiny Llama the SFT tests train: fast enough for several trainings (and kills) per test."""

from __future__ import annotations

from pathlib import Path


def sft_tiny_llama(out: Path, tokenizer_dir: str) -> Path:
    """2 layers, hidden 32, untied embeddings (the lm_head rows of the new tokens train too), the tokenizer of
    `tokenizer_dir` (SmolLM2's in the tests)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      tie_word_embeddings=False, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out
