"""Token counting with a model's own tokenizer (the embedded model's by default), loaded lazily, once.

Prompts are counted as the model would see them: a list of {role, content} messages through the tokenizer's
chat template (with the generation prompt), plain text as is. Counting is batched through the fast tokenizer.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from backends.embedded import resolve_model


@lru_cache(maxsize=4)
def load_tokenizer(model: str = "smollm2-135m") -> Any:
    """A folder with tokenizer.json loads as a fast tokenizer without importing torch (seconds, not tens)."""
    path = resolve_model(model)
    if (Path(path) / "tokenizer.json").exists():
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast.from_pretrained(path)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def prompt_text(tokenizer: Any, prompt: Any) -> str:
    """What the model reads: chat-templated messages, or the text itself."""
    if isinstance(prompt, (list, tuple)):
        messages = [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))} for m in prompt]
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n".join(m["content"] for m in messages)
    return "" if prompt is None else str(prompt)


def count_tokens(prompts: list[Any], model: str = "smollm2-135m", batch: int = 1024) -> list[int]:
    """Prompt lengths in tokens with `model`'s tokenizer."""
    tokenizer = load_tokenizer(model)
    counts: list[int] = []
    for start in range(0, len(prompts), batch):
        texts = [prompt_text(tokenizer, p) for p in prompts[start:start + batch]]
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        counts += [len(x) for x in ids]
    return counts
