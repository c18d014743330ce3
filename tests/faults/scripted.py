"""Deterministic stand-ins for a model behind the scripted chat server: the answer is a function of the prompt,
so an interrupted run and an uninterrupted one must agree record for record (as greedy decoding would)."""

from __future__ import annotations

import hashlib
import json
import re


def _hash(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest(), 16)


def arith_reply(prompt: str) -> str:
    """Sum, difference or product of the question's first two numbers (picked by the prompt's hash): a
    right/wrong mix on the `arith` set, graded by rule."""
    numbers = [int(n) for n in re.findall(r"\d+", prompt.split("\n")[0])][:2] + [0, 0]
    a, b = numbers[0], numbers[1]
    h = _hash(prompt)
    return f"Let me work it out (note {h % 997}).\n#### {[a + b, a - b, a * b][h % 3]}"


def judge_reply(prompt: str) -> str:
    """A judge verdict whose fields depend on the prompt (so a verdict given to the wrong record shows)."""
    h = _hash(prompt)
    return json.dumps({"correct_answer": str(h % 89), "model_answer": str(h % 83), "reasoning": f"note {h % 997}",
                       "correct": "yes" if h % 2 else "no"})


def any_reply(prompt: str) -> str:
    """One scripted server for both: a judge prompt (it quotes the reference answer) gets a verdict."""
    judge = "reference answer" in prompt.lower() or "json verdict" in prompt.lower()
    return judge_reply(prompt) if judge else arith_reply(prompt)
