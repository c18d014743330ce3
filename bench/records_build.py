"""A synthetic large run for `bench/records_scale.py`: tagged records over graded (and partly judged) answers.

Records carry every field the stages write (inference + grading + judging on a quarter of them + tagging), with
several domains, n samples per question, responses of 200-1,500 characters. Written straight to JSONL chunks by
a process pool (no model), then the manifest says done.
"""

from __future__ import annotations

import json
import os
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOMAINS = ("math", "gsm8k", "mmlu", "gpqa", "medqa")
WORDS = ("first", "we", "compute", "the", "sum", "of", "both", "terms", "then", "divide", "by", "two", "so",
         "result", "is", "therefore", "answer", "check", "again", "carefully", "multiply", "each", "side",
         "equation", "gives", "value", "option", "because", "patient", "symptoms", "suggest", "likely",
         "diagnosis", "energy", "particle", "field", "constant", "hence", "final", "simplify", "factor")
PROMPT = "\n\nSolve the problem step by step, then give the final answer on its own line as '#### <number>'."


def _sentence(rng: np.random.Generator) -> str:
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), rng.integers(6, 18))).capitalize() + "."


def chunk_records(chunk: int, first: int, last: int, samples: int, seed: int) -> list[dict]:
    """The records of questions first..last-1 (chunk `chunk`: its own random stream)."""
    rng = np.random.default_rng(seed * 100_003 + chunk)
    out = []
    for q in range(first, last):
        domain = DOMAINS[q % len(DOMAINS)]
        gold = str(int(rng.integers(0, 10_000)))
        question = f"Question {q}: " + " ".join(_sentence(rng) for _ in range(int(rng.integers(1, 4))))
        p_right = float(rng.beta(0.8, 0.8))
        for s in range(samples):
            right = bool(rng.random() < p_right)
            answer = gold if right else str(int(gold) + int(rng.integers(1, 50)))
            no_answer = rng.random() < 0.03
            body = " ".join(_sentence(rng) for _ in range(int(rng.integers(3, 16))))
            response = body if no_answer else f"{body}\nThe answer is {answer}.\n#### {answer}"
            token = f"<{'CN' if right and not no_answer else 'UN'}_{domain.upper()}>"
            record = {
                "example_id": f"{domain}-test-{q:07d}", "sample_idx": s, "index": q, "domain": domain,
                "source": domain, "question": question, "prompt": question + PROMPT, "gold": gold, "context": {},
                "model": "smollm2-135m", "response": response, "finish_reason": "stop",
                "prompt_tokens": len(question) // 4, "completion_tokens": len(response) // 4,
                "prompt_truncated": False, "correct": right and not no_answer,
                "extracted": None if no_answer else answer, "grade_status": "no_answer" if no_answer else "ok",
                "grade_reason": "" if right else f"{answer} != gold {gold}",
            }
            if q % 4 == 0:  # a quarter of the questions were also judged
                judge_right = right if rng.random() < 0.9 else not right
                invalid = rng.random() < 0.02
                record.update({
                    "judge_correct": None if invalid else judge_right, "judge_model_answer": answer,
                    "judge_correct_answer": gold, "judge_reasoning": _sentence(rng),
                    "judge_status": "invalid_json" if invalid else "ok", "judge_raw": "{...}",
                    "judge_model": "gpt-4o-mini", "judge_prompt_tokens": 300, "judge_completion_tokens": 60,
                    "judge_cost": 0.00008, "judge_attempts": 1, "judge_error": None,
                })
            record.update({"verdict_source": "rule", "rule_correct": record["correct"], "confidence_token": token,
                           "tagged_response": f"{response} {token}"})
            out.append(record)
    return out


def _write_chunk(args: tuple[str, int, int, int, int, int]) -> int:
    chunks_dir, chunk, first, last, samples, seed = args
    rows = chunk_records(chunk, first, last, samples, seed)
    path = Path(chunks_dir) / f"chunk-{chunk:05d}.jsonl"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)
    return len(rows)


def make_large_run(home: Path, records: int, samples: int = 16, chunk_examples: int = 32, seed: int = 0,
                   run_id: str = "tagging-large") -> str:
    """A done tagging run of `records` records (questions x samples) under `home`."""
    from experiments.runs.store import RunStore

    store = RunStore.create('stage = "tagging"\ninput_run = ""\n', "tagging", home, run_id=run_id)
    questions = records // samples
    chunks = (questions + chunk_examples - 1) // chunk_examples
    jobs = [(str(store.chunks_dir), c, c * chunk_examples, min(questions, (c + 1) * chunk_examples), samples, seed)
            for c in range(chunks)]
    with Pool(os.cpu_count() or 2) as pool:
        total = sum(pool.imap_unordered(_write_chunk, jobs, chunksize=4))
    store.update_manifest(status="done", counts={"records": total, "chunks_done": chunks})
    return store.run_id
