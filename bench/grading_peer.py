"""Our math grader against bare math-verify on two peer test suites we did not write.

Sets (``bench/data``), each row (gold, response, expected label, source = repo@version::file::test):

- ``mathverify_suite.jsonl``: every (gold, prediction, expected) case of huggingface/Math-Verify's tests folder
  (the 0.9.0 sdist, the version installed, plus ``test_trailing_punctuation`` from tests/test_all.py at GitHub commit
  cf14bc47). ``config`` records how the test itself calls math-verify (match_types, float precision, strict,
  allow_set_relation_comp), transcribed from the test bodies.
- ``nemoskills_grader_cases.jsonl``: NVIDIA/NeMo-Skills tests/test_math_equal.py; each pair is checked in both
  directions as that test does; non-string values (``5``, ``0.5``, ``None``) are taken as ``str()`` of them.

Columns printed per set:

- ours: ``grade("math", response, gold)`` through ``GradingPool`` (a parent-enforced per-case wall-clock limit);
- bare: ``verify(parse(gold), parse(response))`` with math-verify's defaults;
- bare+cfg: math-verify called as the test itself calls it (its ``config``); equal to bare where none is stated.

Both bare columns run in a forked child per case that is killed past the same limit, so nothing can hang.

    .venv/bin/python bench/grading_peer.py [--show] [--timeout 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.grading import GradeItem, GradingPool  # noqa: E402

DATA = Path(__file__).with_name("data")
SETS = {
    "Math-Verify tests": DATA / "mathverify_suite.jsonl",
    "NeMo-Skills test_math_equal": DATA / "nemoskills_grader_cases.jsonl",
}


def _bare_pair(gold: str, response: str, config: dict) -> tuple[bool, bool]:
    """(defaults, the test's own call) for one case; runs in a child process."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    default = bool(verify(parse(gold), parse(response)))
    if config.get("call") != "compare_strings":
        return default, default
    targets = [LatexExtractionConfig(boxed_match_priority=0) if m == "latex" else ExprExtractionConfig()
               for m in config["match_types"]]
    own = verify(parse(gold, targets), parse(response, targets), float_rounding=config.get("precision", 6),
                 strict=config.get("strict", True),
                 allow_set_relation_comp=config.get("allow_set_relation_comp", False))
    return default, bool(own)


def _child(conn: mp.connection.Connection, gold: str, response: str, config: dict) -> None:
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    try:
        conn.send(_bare_pair(gold, response, config))
    except Exception:  # noqa: BLE001 - math-verify failing counts as "not equal"
        conn.send((False, False))


def bare(row: dict, limit_s: float) -> tuple[bool, bool] | None:
    """Bare math-verify verdicts for one row in a forked child; None when it ran past ``limit_s``."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, row["gold"], row["response"], row.get("config") or {}))
    proc.start()
    child.close()
    got = parent.recv() if parent.poll(limit_s) else None
    proc.kill()
    proc.join()
    parent.close()
    return got


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def measure(name: str, rows: list[dict], pool: GradingPool, limit_s: float, show: bool) -> dict[str, int]:
    """Score ours / bare / bare+cfg against the expected labels; print the rows where ours and bare differ."""
    t0 = time.monotonic()
    verdicts = pool.grade_all([GradeItem("math", r["response"], r["gold"]) for r in rows])
    t_ours = time.monotonic() - t0
    score = Counter()
    by_source: dict[str, Counter] = {}
    diffs = []
    for row, v in zip(rows, verdicts, strict=True):
        ours = v.correct is True
        b = bare(row, limit_s)
        b_def, b_cfg = b if b is not None else (False, False)
        score["n"] += 1
        score["ours"] += ours == row["expected"]
        score["bare"] += b_def == row["expected"]
        score["bare_cfg"] += b_cfg == row["expected"]
        score["ours_timeout"] += v.status == "timeout"
        score["bare_timeout"] += b is None
        part = by_source.setdefault(row["source"].split("::")[0], Counter())
        part["n"] += 1
        part["ours"] += ours == row["expected"]
        part["bare"] += b_def == row["expected"]
        if ours != row["expected"] or b_def != row["expected"]:
            diffs.append((row, v, ours, b_def))
    print(f"\n{name}: {score['n']} cases; ours {score['ours']}/{score['n']}, bare math-verify {score['bare']}/"
          f"{score['n']}, bare with the test's own config {score['bare_cfg']}/{score['n']} "
          f"(timeouts: ours {score['ours_timeout']}, bare {score['bare_timeout']}; ours graded in {t_ours:.1f}s)")
    if len(by_source) > 1:
        for source, part in by_source.items():
            print(f"  from {source}: ours {part['ours']}/{part['n']}, bare {part['bare']}/{part['n']}")
    if show:
        for row, v, ours, b_def in diffs:
            test = row["source"].rsplit("::", 1)[-1]
            print(f"  expected={row['expected']!s:5} ours={ours!s:5} bare={b_def!s:5} {test}: "
                  f"gold={row['gold'][:50]!r} response=...{row['response'][-70:]!r} -> {v.status} {v.extracted!r}")
    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", action="store_true", help="print every row ours or bare math-verify gets wrong")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-case wall-clock limit, seconds")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    import math_verify  # noqa: F401 - imported once here so every forked bare-case child inherits it

    with GradingPool(workers=args.workers, timeout=args.timeout) as pool:
        for name, path in SETS.items():
            measure(name, load(path), pool, args.timeout, args.show)


if __name__ == "__main__":
    main()
