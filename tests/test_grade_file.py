"""grade-file: order, malformed lines, pathological lines, summary, and the argparse command."""

import argparse
import json
import time
from pathlib import Path

from experiments.grading.grade_file import grade_file
from experiments.stages.grading.cli import register

TOWER = "\\boxed{9^{9^{9^{9^{9}}}}}"


def row(i: int) -> dict:
    """A cheap, mixed row whose correctness is known from ``i``."""
    k = i % 5
    if k == 0:
        return {
            "id": i,
            "domain": "math",
            "response": f"so \\boxed{{\\frac{{{i}}}{{2}}}}",
            "gold": f"{i / 2}",
        }
    if k == 1:
        return {"id": i, "domain": "gsm8k", "response": f"The answer is ${i:,}.", "gold": f"#### {i}"}
    if k == 2:
        return {
            "id": i,
            "domain": "mc",
            "response": "Answer: (B)",
            "gold": "B",
            "options": {"A": "x", "B": "y"},
        }
    if k == 3:
        return {"id": i, "domain": "yesno", "response": "No, it is not.", "gold": False}
    return {"id": i, "domain": "math", "response": f"\\boxed{{{i}}}", "gold": f"{i + 1}"}  # wrong on purpose


def write_jsonl(path: Path, n: int, pathological_every: int = 1000) -> set[int]:
    bad = set()
    with open(path, "w") as f:
        for i in range(n):
            r = row(i)
            if i % pathological_every == pathological_every // 2:
                r = {"id": i, "domain": "math", "response": TOWER, "gold": "3"}
                bad.add(i)
            f.write(json.dumps(r) + "\n")
    return bad


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ten_thousand_lines_with_pathological_ones(tmp_path: Path) -> None:
    """10 pathological lines (1 per 1,000) time out; the rest are graded; order is kept (~15 s)."""
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    bad = write_jsonl(src, 10_000)
    t0 = time.monotonic()
    summary = grade_file(src, dst, workers=2, timeout=2.0)
    elapsed = time.monotonic() - t0
    out = read_jsonl(dst)
    assert [r["id"] for r in out] == list(range(10_000))
    assert {r["id"] for r in out if r["status"] == "timeout"} == bad
    assert all(r["status"] == "ok" for r in out if r["id"] not in bad)
    for r in out:
        if r["id"] not in bad:
            assert r["correct"] is (r["id"] % 5 != 4), r
    assert summary["total"] == 10_000
    assert summary["by_status"] == {"ok": 9990, "no_answer": 0, "timeout": 10, "error": 0}
    assert summary["correct"] == sum(1 for i in range(10_000) if i % 5 != 4 and i not in bad)
    assert summary["answers_per_s"] > 0 and summary["elapsed_s"] > 0
    assert not (tmp_path / "out.jsonl.tmp").exists()
    assert elapsed < 40


def test_malformed_lines_become_errors(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [
        json.dumps({"domain": "gsm8k", "response": "#### 3", "gold": "3", "keep": [1, 2]}),
        "{not json",
        json.dumps({"domain": "gsm8k", "gold": "3"}),
        "",
        json.dumps(["a", "list"]),
        json.dumps({"domain": "poetry", "response": "x", "gold": "y"}),
        json.dumps(
            {
                "domain": "mc",
                "response": "I pick Lisinopril",
                "gold": "C",
                "options": {"A": "Metformin", "B": "Aspirin", "C": "Lisinopril"},
            }
        ),
        "{truncated",
    ]
    src.write_text("\n".join(lines) + "\n")
    seen = []
    summary = grade_file(src, dst, workers=1, timeout=5.0, progress=lambda d, t: seen.append((d, t)))
    out = read_jsonl(dst)
    assert len(out) == 7  # the blank line is skipped
    assert out[0]["correct"] is True and out[0]["keep"] == [1, 2] and out[0]["status"] == "ok"
    assert (
        out[1]
        == {"line": 2, "correct": None, "extracted": None, "status": "error", "reason": out[1]["reason"]}
        and "invalid JSON" in out[1]["reason"]
    )
    assert out[2]["status"] == "error" and "missing response" in out[2]["reason"] and out[2]["line"] == 3
    assert out[3]["status"] == "error" and out[3]["line"] == 5
    assert out[4]["status"] == "error" and "unknown domain" in out[4]["reason"]
    assert out[5]["correct"] is True and out[5]["extracted"] == "C"  # options reached the grader
    assert out[6]["status"] == "error" and out[6]["line"] == 8
    assert summary["by_status"]["error"] == 5 and summary["correct"] == 2
    assert seen[0] == (0, 7) and seen[-1] == (7, 7)


def test_only_malformed_lines(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("oops\n[]\n")
    summary = grade_file(src, dst, workers=1, timeout=2.0)
    assert summary["total"] == 2 and summary["by_status"]["error"] == 2
    assert [r["line"] for r in read_jsonl(dst)] == [1, 2]


def test_cli_register_and_run(tmp_path: Path, capsys) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "sub" / "out.jsonl"
    write_jsonl(src, 50, pathological_every=10_000)
    parser = argparse.ArgumentParser(prog="confconsole")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade-file", str(src), str(dst), "--workers", "1", "--timeout", "3"])
    assert args.workers == 1 and args.timeout == 3.0
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "answers/s" in text and "ok: 50" in text and "correct: 40/50" in text
    assert len(read_jsonl(dst)) == 50


def test_cli_missing_input_is_exit_1(tmp_path: Path, capsys) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["grade-file", str(tmp_path / "nope.jsonl"), str(tmp_path / "o.jsonl")])
    assert args.func(args) == 1
    assert "grade-file:" in capsys.readouterr().err
