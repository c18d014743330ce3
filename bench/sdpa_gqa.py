"""Plain batched generation with transformers' stock `sdpa` against `backends.sdpa_gqa`, in one run.

    python bench/sdpa_gqa.py                   # embedded model, 32 prompts, 200 new tokens, CPU

Same model, same left-padded batch, greedy, fixed length; the two implementations alternate `--rounds` times and
the best time of each is kept (a shared box is noisy). Prints seconds, tokens/s, the speed-up, and whether the
tokens are identical.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from backends.embedded import resolve_model
    from backends.sdpa_gqa import register

    path = resolve_model(args.model)
    tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    tok.pad_token = tok.pad_token or tok.eos_token
    texts = [tok.apply_chat_template([{"role": "user", "content": f"Explain step by step how to add {i * 7} and "
                                       f"{i * 13 + 5}." + " Be brief." * (i % 4)}],
                                     tokenize=False, add_generation_prompt=True) for i in range(args.batch)]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(args.device)
    models = {name: AutoModelForCausalLM.from_pretrained(path, attn_implementation=name).to(args.device).eval()
              for name in ("sdpa", register())}
    best: dict[str, float] = {}
    out: dict[str, object] = {}
    for _ in range(args.rounds):
        for name, model in models.items():
            with torch.inference_mode():
                started = time.perf_counter()
                out[name] = model.generate(**enc, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                                           do_sample=False, pad_token_id=tok.pad_token_id)
                elapsed = time.perf_counter() - started
            best[name] = min(best.get(name, elapsed), elapsed)
    tokens = args.batch * args.new_tokens
    print(f"{args.model}, {args.batch} prompts (padded to {enc['input_ids'].shape[1]}), {args.new_tokens} new tokens, "
          f"best of {args.rounds}, {torch.get_num_threads()} threads, {args.device}")
    for name, seconds in best.items():
        print(f"  {name:9} {seconds:8.2f} s  {tokens / seconds:7.1f} tok/s")
    print(f"  sdpa_gqa / sdpa speed-up {best['sdpa'] / best['sdpa_gqa']:.2f}x; identical tokens: "
          f"{bool(torch.equal(out['sdpa'], out['sdpa_gqa']))}")


if __name__ == "__main__":
    main()
