"""Handing a segment written by one model to another: token ids when they share a vocabulary, text otherwise.

Text hand-over must not lose or duplicate characters at the boundary. Tokenizers merge across it ("hel" + "lo"
is one token "hello" for the receiver, a leading space belongs to the next word), so the receiver takes back its
last token(s), re-encodes their text together with the new segment, and replaces them: its context then decodes
to exactly the shared answer text. Segment texts come from decoding with a few tokens of context, so a word-start
marker or a multi-byte character split across tokens decodes as it does in the full text.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

REPLACEMENT = "\ufffd"


@functools.lru_cache(maxsize=32)
def _vocab_fingerprint(tokenizer: Any) -> int:
    return hash(tuple(sorted(tokenizer.get_vocab().items())))


def same_vocabulary(a: Any, b: Any) -> bool:
    return a is b or (len(a) == len(b) and _vocab_fingerprint(a) == _vocab_fingerprint(b))


def decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)


def token_texts(tokenizer: Any, context: Sequence[int], ids: Sequence[int]) -> list[str]:
    """The text each of `ids` adds after `context` (a few preceding ids), so pieces join to the full text."""
    out = []
    prev = decode(tokenizer, context)
    running = list(context)
    for tid in ids:
        running.append(tid)
        cur = decode(tokenizer, running)
        stable = prev.rstrip(REPLACEMENT)
        if cur.startswith(prev):
            out.append(cur[len(prev):])
        elif cur.startswith(stable):  # a multi-byte character completed: its placeholder was emitted already
            out.append(cur[len(prev):] if len(cur) > len(prev) else "")
        else:
            out.append(decode(tokenizer, [tid]))
        prev = cur
    return out


def token_texts_batch(tokenizer: Any, items: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[list[str]]:
    """`token_texts` of many (context, ids) pairs with one batched decode of every running prefix (a fast
    tokenizer decodes them in one call into Rust, several times quicker than one `decode` per prefix)."""
    backend = getattr(tokenizer, "_tokenizer", None)
    if not getattr(tokenizer, "is_fast", False) or not callable(getattr(backend, "decode_batch", None)):
        return [token_texts(tokenizer, context, ids) for context, ids in items]
    prefixes = [list(context) + list(ids[:k]) for context, ids in items for k in range(len(ids) + 1)]
    texts = backend.decode_batch(prefixes, skip_special_tokens=False)
    out, at = [], 0
    for _, ids in items:
        row = texts[at:at + len(ids) + 1]
        at += len(ids) + 1
        pieces = []
        for i, tid in enumerate(ids):
            prev, cur = row[i], row[i + 1]
            if cur.startswith(prev):
                pieces.append(cur[len(prev):])
            elif cur.startswith(prev.rstrip(REPLACEMENT)):
                pieces.append(cur[len(prev):] if len(cur) > len(prev) else "")
            else:
                pieces.append(decode(tokenizer, [tid]))
        out.append(pieces)
    return out


def encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


class Handover:
    """Moves segments from a writer's tokenizer to a receiver's session (`append(row, ids, drop_last)`)."""

    def __init__(self, src_tokenizer: Any, dst_tokenizer: Any, max_take_back: int = 8) -> None:
        self.src, self.dst = src_tokenizer, dst_tokenizer
        self.same = same_vocabulary(src_tokenizer, dst_tokenizer)
        self.max_take_back = max_take_back

    def move(self, receiver: Any, row: int, ids: list[int], text: str) -> None:
        if self.same:
            receiver.append(row, list(ids))
            return
        drop, tail = self.take_back(receiver.answer_ids(row))
        receiver.append(row, encode(self.dst, tail + text), drop_last=drop)

    def take_back(self, answer_ids: list[int]) -> tuple[int, str]:
        """How many of the receiver's last tokens to re-encode with the new text, and their text.

        Back to the start of the last word (tokenizers merge within words), at least one token, never through a
        split multi-byte character, at most `max_take_back`.
        """
        best = (0, "")
        for n in range(1, min(self.max_take_back, len(answer_ids)) + 1):
            tail = decode(self.dst, answer_ids[-n:])
            if REPLACEMENT in tail:
                continue
            best = (n, tail)
            if tail[:1].isspace() or n == len(answer_ids):
                break
        return best


def render_prompt(tokenizer: Any, prompt: Any) -> list[int]:
    """Prompt ids: chat messages through the model's chat template (raw join without one), or raw text."""
    if isinstance(prompt, str):
        return encode(tokenizer, prompt)
    messages = [dict(m) for m in prompt]
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        text = "\n".join(m["content"] for m in messages) + "\n"
    return encode(tokenizer, text)
