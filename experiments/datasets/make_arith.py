"""Writes the built-in `arith` set: easy one-step arithmetic word problems with known answers.

The embedded 135M model answers some of these (2 of the first 20 here, vs 0 of 20 on GSM8K), which
gives demos and tests a real mix of right and wrong answers. Deterministic: `python -m experiments.datasets.make_arith`
rewrites the same file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "arith.jsonl"
TEMPLATES = {
    "+": ["What is {a} plus {b}?", "Tom has {a} apples and buys {b} more. How many apples does he have now?",
          "A shelf holds {a} books and {b} more are added. How many books are on the shelf?"],
    "-": ["What is {a} minus {b}?", "Anna had {a} stickers and gave away {b}. How many stickers does she have left?"],
    "*": ["What is {a} times {b}?", "There are {a} boxes with {b} pens in each. How many pens are there in all?"],
}


def rows(count: int = 500, seed: int = 2024) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        op = rng.choice("+-*")
        a, b = rng.randint(2, 20), rng.randint(2, 12 if op == "*" else 20)
        if op == "-" and b > a:
            a, b = b, a
        answer = {"+": a + b, "-": a - b, "*": a * b}[op]
        out.append({"question": rng.choice(TEMPLATES[op]).format(a=a, b=b), "answer": f"#### {answer}"})
    return out


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    print(f"wrote {OUT}")
