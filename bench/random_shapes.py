"""Random-weight causal LMs of real shapes with a brought tokenizer, for timing guided decoding on a GPU host
that has no model weights. Random weights time like trained ones when lengths are fixed (EOS ignored).

    python bench/random_shapes.py OUT TOKENIZER_DIR qwen2.5-0.5b|qwen2.5-7b
"""

from __future__ import annotations

import sys
from pathlib import Path

SHAPES = {
    "qwen2.5-0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         intermediate_size=4864, tie_word_embeddings=True, vocab_size=151936),
    "qwen2.5-7b": dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                       intermediate_size=18944, tie_word_embeddings=False, vocab_size=152064),
}


def build(out: str, tokenizer_dir: str, shape: str) -> None:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    if (Path(out) / "config.json").exists():
        return
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = Qwen2Config(max_position_embeddings=32768, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id or tok.eos_token_id, **SHAPES[shape])
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    print(shape, sum(p.numel() for p in model.parameters()) / 1e9, "B params ->", out, flush=True)


if __name__ == "__main__":
    build(*sys.argv[1:])
