"""Ready-made pipelines on the embedded model: the demo (inference -> grading -> tagging) and the confidence loop
(inference -> grading -> tagging -> SFT -> evaluation on a calibration split, then on held-out questions with the
threshold chosen there -> delegation).

These sit above the stages (they name stage fields); `examples/*.toml` hold the same recipes as spec files.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from experiments.datasets.base import DatasetSpec
from experiments.specs import DEFAULT_MAX_TOKENS, BackendSpec, SamplingSpec
from experiments.stages.inference.spec import InferenceSpec

DEMO_SOURCE = "arith"  # the embedded model gets some of these right: a real mix of tokens
# Rows decoding together (continuous batching: a row leaves when its answer ends). On a CPU a decoding step of the
# 135M model costs mostly reading its weights (~80 ms on 2 cores), ~6 ms more per row: 16 rows take the 20 demo
# answers in ~256 steps (the longest answer), 8 rows in ~330 (measured: generation 41 s vs 54 s, same answers).
DEMO_BATCH = 16
EMBEDDED = "smollm2-135m"

# The confidence loop: train on the first questions of `arith`, evaluate on questions it never saw. arith has 500
# questions: 0..239 may train, 240..399 are a calibration split, 400..499 are held out. The adapter's written token
# follows the training prior (measured: <CN_MATH> on 79 of 100 held-out answers, calibration accuracy 54% against a
# 58% majority baseline) while P(confident) ranks answers well (AUROC 0.83), so a threshold on P is chosen on the
# calibration split: rows neither trained on nor held out, so nothing is tuned on the held-out rows.
LOOP_TRAIN = 240
LOOP_CALIB_OFFSET = 240
LOOP_CALIB = 160
LOOP_HELDOUT = 100
LOOP_HELDOUT_OFFSET = 400
# Short answers: the question alone (template "plain", not the step-by-step gsm8k prompt) with this system prompt.
# Measured on arith rows 0..79 (training rows): 62 of 80 answers end within 96 tokens (mean 46), 29 of 80 right;
# the 135M model still rambles on some, so the evaluation gets twice the budget for answer + token.
LOOP_SYSTEM_PROMPT = "Reply with only the number."
LOOP_TEMPLATE = "plain"
LOOP_MAX_TOKENS = 96
# Chosen on the training side only (bench/RESULTS.md, the loop): with 240 steps the validation loss (24 training
# rows held back by the SFT stage) plateaued from step 80 on and was lowest at 160; the tagged training answers are
# 37.5% right, and the unbalanced tokens made the adapter say <UN_MATH> on 94 of 100 answers, so the tagging step
# keeps one wrong answer per right one (Self-REF's incorrect_ratio).
LOOP_SFT_STEPS = 160
LOOP_INCORRECT_RATIO = 1.0


def new_group(name: str) -> str:
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def demo_spec(limit: int = 20, model: str = EMBEDDED, n: int = 1, max_tokens: int = DEFAULT_MAX_TOKENS,
              batch_size: int = DEMO_BATCH, chunk_size: int = 8, temperature: float = 0.0,
              source: str = DEMO_SOURCE) -> InferenceSpec:
    return InferenceSpec(
        title=f"{source} x{limit} on {model}",
        group=new_group("demo"),
        dataset=DatasetSpec(source=source, limit=limit),
        model=model,
        backend=BackendSpec(kind="hf", options={"batch_size": batch_size}),
        sampling=SamplingSpec(n=n, max_tokens=max_tokens, temperature=temperature),
        chunk_size=chunk_size,
        then=[{"stage": "grading", "title": "demo: grading"}, {"stage": "tagging", "title": "demo: tagging"}],
    )


def loop_spec(train: int = LOOP_TRAIN, heldout: int = LOOP_HELDOUT, model: str = EMBEDDED,
              sft_steps: int = LOOP_SFT_STEPS, sft_lr: float = 1e-3, max_tokens: int = LOOP_MAX_TOKENS,
              system_prompt: str | None = LOOP_SYSTEM_PROMPT, oracle_model: str = EMBEDDED,
              oracle_url: str | None = None, oracle_key_env: str | None = None,
              batch_size: int = 16, calib: int = LOOP_CALIB) -> dict[str, Any]:
    """The confidence loop as a pipeline spec. Training questions are `arith` rows 0..train-1; the `calib` step
    evaluates the adapter on `calib` rows from LOOP_CALIB_OFFSET and its records choose the threshold on P(confident)
    that the `eval` step applies to rows LOOP_HELDOUT_OFFSET.. (never trained on; calib 0: no calibration step,
    the written tokens only). The oracle is the embedded model through hf unless a served big model is named
    (`oracle_url`: any OpenAI-compatible endpoint)."""
    if train > LOOP_CALIB_OFFSET:
        raise ValueError(f"train = {train}: at most {LOOP_CALIB_OFFSET} questions train (rows "
                         f"{LOOP_CALIB_OFFSET}..{LOOP_HELDOUT_OFFSET - 1} calibrate, the rest are held out)")
    if not 0 <= calib <= LOOP_HELDOUT_OFFSET - LOOP_CALIB_OFFSET:
        raise ValueError(f"calib = {calib}: 0 to {LOOP_HELDOUT_OFFSET - LOOP_CALIB_OFFSET} questions (rows "
                         f"{LOOP_CALIB_OFFSET}..{LOOP_HELDOUT_OFFSET - 1})")
    prompt = {"template": LOOP_TEMPLATE, **({"system_prompt": system_prompt} if system_prompt else {})}
    backend = {"kind": "hf", "options": {"batch_size": batch_size}}
    if oracle_url:
        options = {"base_url": oracle_url, **({"api_key_env": oracle_key_env} if oracle_key_env else {})}
        oracle_backend = {"kind": "openai_compat", "options": options}
    else:
        oracle_backend = {"kind": "hf", "options": {"batch_size": batch_size}}

    def evaluation(name: str, offset: int, limit: int, inputs: dict[str, str]) -> dict[str, Any]:
        """The adapter on arith rows offset..offset+limit-1: the same prompt, engine and sampling for both."""
        return {"name": name, "stage": "evaluation", "inputs": inputs, "model": model, "chunk_size": 25,
                "backend": backend, "dataset": {"source": DEMO_SOURCE, "offset": offset, "limit": limit, **prompt},
                "sampling": {"max_tokens": 2 * max_tokens}}

    calibrated = f", {calib} calibrate" if calib else ""
    return {
        "stage": "pipeline",
        "title": f"confidence loop: {model} on arith ({train} train{calibrated}, {heldout} held out)",
        "group": new_group("loop"),
        "steps": [
            {"name": "infer", "stage": "inference", "model": model, "chunk_size": 40, "backend": backend,
             "dataset": {"source": DEMO_SOURCE, "limit": train, **prompt},
             "sampling": {"max_tokens": max_tokens}},
            {"name": "grade", "stage": "grading", "inputs": ["infer"]},
            {"name": "tag", "stage": "tagging", "inputs": ["grade"], "incorrect_ratio": LOOP_INCORRECT_RATIO},
            {"name": "sft", "stage": "sft", "inputs": ["tag"], "model": model, "max_steps": sft_steps,
             "epochs": 100, "lr": sft_lr, "batch_size": 8, "max_length": 256, "save_steps": 40,
             "lr_scheduler": "constant"},
            *([evaluation("calib", LOOP_CALIB_OFFSET, calib, {"adapter": "sft"})] if calib else []),
            evaluation("eval", LOOP_HELDOUT_OFFSET, heldout,
                       {"adapter": "sft", **({"threshold_from": "calib"} if calib else {})}),
            {"name": "delegate", "stage": "delegation", "inputs": ["eval"], "oracle_model": oracle_model,
             "oracle_backend": oracle_backend, "oracle_sampling": {"max_tokens": 256 if oracle_url else max_tokens},
             **({"oracle_system_prompt": system_prompt} if system_prompt and not oracle_url else {})},
        ],
    }
