"""A random-weight causal LM of a real architecture's shape, for timing on a host with no model weights.

With a fixed output length (ignore_eos / min_new_tokens) random weights time like trained ones. The vocabulary
keeps the real shape's size (the lm_head cost); the tokenizer brought along only has to fit inside it.
Usage: python bench/gpu/random_model.py OUT_DIR TOKENIZER_DIR SHAPE   (SHAPE: one of SHAPES below)
"""

from __future__ import annotations

import sys
from pathlib import Path

# (config class name, dims) per published model shape (from the models' config.json files).
SHAPES: dict[str, tuple[str, dict[str, object]]] = {
    "qwen2.5-0.5b": ("Qwen2Config", dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                                         num_key_value_heads=2, intermediate_size=4864, vocab_size=151936,
                                         tie_word_embeddings=True)),
    "qwen2.5-1.5b": ("Qwen2Config", dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12,
                                         num_key_value_heads=2, intermediate_size=8960, vocab_size=151936,
                                         tie_word_embeddings=True)),
    "qwen2.5-7b": ("Qwen2Config", dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28,
                                       num_key_value_heads=4, intermediate_size=18944, vocab_size=152064,
                                       tie_word_embeddings=False)),
    "llama-3.2-1b": ("LlamaConfig", dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
                                         num_key_value_heads=8, intermediate_size=8192, vocab_size=128256,
                                         tie_word_embeddings=True)),
    "llama-3.1-8b": ("LlamaConfig", dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                                         num_key_value_heads=8, intermediate_size=14336, vocab_size=128256,
                                         tie_word_embeddings=False)),
}


def build(out: str, tokenizer_dir: str, shape: str) -> None:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    config_name, dims = SHAPES[shape]
    assert len(tok) <= int(dims["vocab_size"]), "the tokenizer is larger than the shape's vocabulary"
    config = getattr(transformers, config_name)(max_position_embeddings=32768, eos_token_id=tok.eos_token_id,
                                                pad_token_id=tok.pad_token_id or tok.eos_token_id,
                                                torch_dtype="bfloat16", **dims)
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    print(f"{shape}: {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B params -> {Path(out).resolve()}")


if __name__ == "__main__":
    build(*sys.argv[1:4])
