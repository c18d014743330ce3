"""Throughput and accuracy of ``grade_file`` vs a bare sequential math-verify loop.

Builds N math answers with known labels (boxed right answers in equivalent forms, wrong answers,
and replies with no final answer), then times (a) ``grade_file`` with W workers and (b)
``verify(parse(gold), parse(response))`` in one process over the same rows.

    .venv/bin/python bench/grading_speed.py [--n 2000] [--workers 2] [--timeout 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.grading.grade_file import grade_file  # noqa: E402

INTRO = [
    "Let's compute step by step. First 3 + 4 = 7, then we simplify.",
    "We set up the equation 2x + 1 = 5 and solve carefully.",
    "Using the formula from step 2 with n = 10, we obtain the value.",
    "",
]


def _family(rng: random.Random) -> tuple[str, list[str], list[str]]:
    """(gold, equivalent forms, wrong forms) for one random problem."""
    kind = rng.randrange(8)
    if kind == 0:
        n = rng.randint(-500, 5000)
        return str(n), [str(n), f"{n}.0", f"x = {n}", f"{n}^\\circ"], [str(n + 1), str(-n - 1), f"{n}.5"]
    if kind == 1:
        q = rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 12])
        p = rng.choice([k for k in range(1, 3 * q) if Fraction(k, q).denominator == q])
        eq = [f"\\dfrac{{{p}}}{{{q}}}", f"{p}/{q}", f"\\frac{{{2 * p}}}{{{2 * q}}}", f"\\tfrac{{{p}}}{{{q}}}"]
        if q in (2, 4, 5, 8):
            eq.append(str(float(Fraction(p, q))))
        return (
            f"\\frac{{{p}}}{{{q}}}",
            eq,
            [f"\\frac{{{q}}}{{{p + q}}}", f"\\frac{{{p + 1}}}{{{q}}}", str(p * q)],
        )
    if kind == 2:
        a, b = rng.randint(2, 9), rng.choice([2, 3, 5, 6, 7, 10, 11])
        return (
            f"{a}\\sqrt{{{b}}}",
            [f"\\sqrt{{{a * a * b}}}", f"{a} \\sqrt{{{b}}}", f"\\sqrt{{{b}}} \\cdot {a}"],
            [f"{a}\\sqrt{{{b + 1}}}", f"{a + 1}\\sqrt{{{b}}}", f"\\sqrt{{{a * b}}}"],
        )
    if kind == 3:
        a = rng.randint(-9, 5)
        b = a + rng.randint(1, 9)
        return (
            f"({a}, {b}]",
            [f"({a},{b}]", f"\\left({a}, {b}\\right]", f"x \\in ({a}, {b}]"],
            [f"[{a}, {b}]", f"({a}, {b})", f"({a}, {b + 1}]"],
        )
    if kind == 4:
        xs = rng.sample(range(1, 20), 3)
        perm = rng.sample(xs, 3)
        return (
            "\\{" + ", ".join(map(str, xs)) + "\\}",
            ["\\{" + ",".join(map(str, perm)) + "\\}"],
            ["\\{" + ", ".join(map(str, xs[:2] + [xs[2] + 20])) + "\\}"],
        )
    if kind == 5:
        a = rng.randint(1, 9)
        return (
            f"x^2 + {2 * a}x + {a * a}",
            [f"(x+{a})^2", f"x^2+{2 * a}x+{a * a}", f"(x + {a})(x + {a})"],
            [f"(x-{a})^2", f"x^2 + {a}x + {a * a}"],
        )
    if kind == 6:
        k = rng.randint(2, 12)
        return (
            f"\\frac{{\\pi}}{{{k}}}",
            [f"\\pi/{k}", f"\\frac{{1}}{{{k}}}\\pi", f"\\dfrac{{\\pi}}{{{k}}}"],
            [f"\\frac{{\\pi}}{{{k + 1}}}", f"{k}\\pi"],
        )
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    return (
        f"({a}, {b + 10})",
        [f"\\left({a}, {b + 10}\\right)", f"({a},{b + 10})"],
        [f"({b + 10}, {a})", f"({a}, {b + 11})"],
    )


def build(n: int, seed: int = 0) -> list[dict]:
    """n rows: ~45% right, ~45% wrong, ~10% without a final answer; gold bare or a full solution."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        gold, eq, wrong = _family(rng)
        r = rng.random()
        intro = rng.choice(INTRO)
        if r < 0.45:
            pred, label = rng.choice(eq), True
        elif r < 0.9:
            pred, label = rng.choice(wrong), False
        else:
            pred, label = None, False
        if pred is None:
            response = intro + " I could not finish the computation in time."
        else:
            style = rng.randrange(3)
            response = (
                intro + f" Therefore the final answer is $\\boxed{{{pred}}}$."
                if style == 0
                else intro + f"\n\nSo we get \\[\\boxed{{{pred}}}\\]"
                if style == 1
                else f"{intro} First I guessed \\boxed{{0}}, but rechecking gives \\boxed{{{pred}}}."
            )
        if rng.random() < 0.3:
            gold = f"Working through the algebra we find the result $\\boxed{{{gold}}}$."
        rows.append({"id": i, "domain": "math", "response": response, "gold": gold, "label": label})
    return rows


def bare_math_verify(rows: list[dict]) -> tuple[float, list[bool]]:
    """(seconds, verdicts) for a sequential verify(parse(gold), parse(response)) loop.

    The gold is wrapped as `$...$`, as math-verify's README does for LaTeX golds (a bare `\\frac12` string
    parses to nothing), so the peer gets its documented best use.
    """
    from math_verify import parse, verify

    def gold_text(gold: str) -> str:
        return gold if "$" in gold or "\\boxed" in gold else f"${gold}$"

    t0 = time.perf_counter()
    out = [bool(verify(parse(gold_text(r["gold"])), parse(r["response"]))) for r in rows]
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    rows = build(args.n, args.seed)
    labels = [r["label"] for r in rows]
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.jsonl", Path(d) / "out.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
        summary = grade_file(src, dst, workers=args.workers, timeout=args.timeout)
        graded = [json.loads(line) for line in dst.read_text().splitlines()]
    ours = [g["correct"] is True for g in graded]
    t_bare, bare = bare_math_verify(rows)

    def acc(pred: list[bool]) -> float:
        return sum(p == y for p, y in zip(pred, labels, strict=True)) / len(labels)

    rate_a = len(rows) / summary["elapsed_s"]
    rate_b = len(rows) / t_bare
    print(f"answers: {len(rows)} ({sum(labels)} labelled correct)")
    print(
        f"(a) grade_file, {args.workers} workers: {summary['elapsed_s']:.2f}s  {rate_a:.1f} answers/s  "
        f"accuracy {acc(ours):.4f}  statuses {summary['by_status']}"
    )
    print(f"(b) bare math-verify loop:     {t_bare:.2f}s  {rate_b:.1f} answers/s  accuracy {acc(bare):.4f}")
    print(f"ratio (a)/(b): {rate_a / rate_b:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
