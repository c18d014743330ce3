"""How the math grader compares with bare math-verify on answer forms we did not write ourselves.

The cases in ``bench/data/mathverify_forms.jsonl`` are (gold, response, expected) pairs transcribed as data from
huggingface/Math-Verify ``tests/test_all.py`` (each row names its test; a few long solutions are shortened to their
final sentences): thousands separators, decimal commas, currency and units, percent, intervals and sets, inline and
display math, relations, matrices, final-answer phrasing, trailing punctuation. For every row we run

- ours: ``experiments.grading.grade("math", response, gold)`` (box / phrase extraction, then math-verify's own
  extraction as the fallback), and
- bare: ``verify(parse(gold), parse(response))`` with math-verify's defaults,

and print per group the accuracy of each against the test's expected label and how often the two agree.

    .venv/bin/python bench/grading_forms.py [--show]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.grading import grade  # noqa: E402

DATA = Path(__file__).with_name("data") / "mathverify_forms.jsonl"


def bare(gold: str, response: str) -> bool:
    from math_verify import parse, verify

    return bool(verify(parse(gold), parse(response)))


def measure(rows: list[dict], show: bool) -> dict[str, dict[str, int]]:
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        verdict = grade("math", row["response"], row["gold"])
        ours = verdict.correct is True
        theirs = bare(row["gold"], row["response"])
        for key in (row["group"], "ALL"):
            s = stats[key]
            s["n"] += 1
            s["ours_right"] += ours == row["expected"]
            s["bare_right"] += theirs == row["expected"]
            s["agree"] += ours == theirs
            s["ours_no_answer"] += verdict.status == "no_answer"
        if show and (ours != row["expected"] or theirs != row["expected"]):
            print(f"  expected={row['expected']!s:5} ours={ours!s:5} ({verdict.status}, {verdict.extracted!r}) "
                  f"bare={theirs!s:5} gold={row['gold'][:40]!r} response={row['response'][:60]!r}")
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", action="store_true", help="print every row either side gets wrong")
    args = parser.parse_args()
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    stats = measure(rows, args.show)
    print(f"{'group':<62} {'n':>4} {'ours acc':>9} {'bare acc':>9} {'agree':>7} {'ours no_answer':>15}")
    for group, s in sorted(stats.items(), key=lambda kv: (kv[0] == "ALL", kv[0])):
        n = s["n"]
        print(f"{group[:62]:<62} {n:>4} {s['ours_right'] / n:>9.3f} {s['bare_right'] / n:>9.3f} "
              f"{s['agree'] / n:>7.3f} {s['ours_no_answer']:>15}")


if __name__ == "__main__":
    main()
