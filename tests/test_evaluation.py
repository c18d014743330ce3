"""The evaluation stage: final-token parsing, P(confident) from logprobs and from a real scoring pass, and the
stage over an inference run (tokens, missing, logprobs) and generating with the embedded model."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from experiments import api
from experiments.datasets.base import DatasetSpec
from experiments.runs.store import RunStore
from experiments.specs import BackendSpec, SamplingSpec, spec_to_toml
from experiments.stages.evaluation.confidence import p_from_logprobs
from experiments.stages.evaluation.spec import EvaluationSpec
from experiments.stages.inference.spec import InferenceSpec
from experiments.stages.tagging.tokens import parse_final_token, strip_tokens


@pytest.fixture
def one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Workers (and this process) use one torch thread: on a box shared by many test processes, two spinning
    OpenMP threads per process made generation ~10x slower (measured: 143 s vs 13 s for 3 x 12 tokens)."""
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def wait_done(run_id: str, home: Path, timeout: float = 600) -> RunStore:
    store = RunStore.open(run_id, home)
    deadline = time.monotonic() + timeout
    while store.effective_status() in ("running", "queued"):
        assert time.monotonic() < deadline, f"{run_id} did not finish"
        time.sleep(0.2)
    assert store.effective_status() == "done", (store.manifest().get("error"), store.log_path.read_text()[-3000:])
    return store


def test_final_token_both_styles_and_missing() -> None:
    t = parse_final_token("I think <UN_MATH> no wait, 12. <CN_MATH>")
    assert (t.text, t.confident, t.domain, t.style, t.pair) == ("<CN_MATH>", True, "MATH", "angle",
                                                                ("<CN_MATH>", "<UN_MATH>"))
    t = parse_final_token("answer 3 <|c_math|> hmm <|u_med|>")
    assert (t.text, t.confident, t.domain, t.style, t.pair) == ("<|u_med|>", False, "MED", "pipe",
                                                                ("<|c_med|>", "<|u_med|>"))
    assert parse_final_token("The answer is 4.") is None
    assert parse_final_token("<cn_math> <CN_math>") is None  # not a token of either style
    assert strip_tokens("The answer is 4. <CN_MATH>") == "The answer is 4."


def test_p_from_logprobs_at_the_token_position() -> None:
    lp = [{"token": "4", "logprob": -0.1, "top": {"4": -0.1}},
          {"token": "<CN_MATH>", "logprob": -0.2, "top": {"<CN_MATH>": -0.2, " <UN_MATH>": -1.8, "x": -4.0}},
          {"token": "", "logprob": 0.0, "top": {}}]
    p, top = p_from_logprobs(lp, ("<CN_MATH>", "<UN_MATH>"))
    # normalised over the two: e^-0.2 / (e^-0.2 + e^-1.8)
    assert p == pytest.approx(1 / (1 + 2.718281828459045 ** -1.6)) and top == {"<CN_MATH>": -0.2, "<UN_MATH>": -1.8}
    # only one of the pair in the top-k: unknown (a scoring pass decides), never guessed
    assert p_from_logprobs(lp[:1] + [{"token": "<CN_MATH>", "logprob": -0.01, "top": {"<CN_MATH>": -0.01}}],
                           ("<CN_MATH>", "<UN_MATH>"))[0] is None
    assert p_from_logprobs(None, ("<CN_MATH>", "<UN_MATH>")) == (None, {})


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("one_torch_thread")
def test_scoring_pass_is_the_softmax_over_the_two_tokens(embedded_model: str) -> None:
    import torch

    from backends.base import GenerationRequest
    from backends.scoring import ConfidenceScorer, ScoreItem

    scorer = ConfidenceScorer("smollm2-135m", batch_size=4)
    tok = scorer.tokenizer
    messages = ({"role": "user", "content": "Is 2 + 2 = 4? Say yes or no."},)
    items = [ScoreItem(messages, "The answer is", (" yes", " no")),
             ScoreItem(messages, "The answer is", (" no", " yes")),
             ScoreItem(({"role": "user", "content": "What is 3 + 5?"},), "3 + 5 = 8 ", ("<CN_MATH>", "<UN_MATH>"))]
    p_yes, p_no, p_token = scorer.score(items)
    ids = scorer.generator.encode(GenerationRequest(key=0, messages=messages))[0] + \
        tok("The answer is", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = scorer.generator.model(input_ids=torch.tensor([ids])).logits[0, -1]
    pair = [tok(" yes", add_special_tokens=False)["input_ids"][0], tok(" no", add_special_tokens=False)["input_ids"][0]]
    assert p_yes == pytest.approx(float(torch.softmax(logits[pair].float(), -1)[0]), abs=1e-5)
    assert p_yes + p_no == pytest.approx(1.0, abs=1e-6)
    assert 0.0 < p_token < 1.0  # multi-piece tokens (no SFT yet): summed piece log-probabilities
    scorer.close()


def lora_adapter(model_path: str, out: Path) -> str:
    """A fresh peft LoRA adapter of the embedded model (zero-initialised B: the base model's outputs)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_path),
                           LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    model.save_pretrained(out)
    return str(out)


def inference_records() -> list[dict[str, Any]]:
    base = {"sample_idx": 0, "domain": "gsm8k", "source": "arith", "model": "smollm2-135m", "prompt_tokens": 10,
            "completion_tokens": 5, "finish_reason": "stop"}
    pair_top = {"<CN_MATH>": -0.1, "<UN_MATH>": -2.5}
    return [
        {**base, "example_id": "a", "question": "1+1?", "prompt": "1+1?", "gold": "2",
         "response": "It is 2. <CN_MATH>", "logprobs": [{"token": "<CN_MATH>", "logprob": -0.1, "top": pair_top}]},
        {**base, "example_id": "b", "question": "2+2?", "prompt": "2+2?", "gold": "4",
         "response": "It is 5. <UN_MATH>",
         "logprobs": [{"token": "<UN_MATH>", "logprob": -0.3, "top": {"<UN_MATH>": -0.3, "<CN_MATH>": -1.5}}]},
        {**base, "example_id": "c", "question": "3+3?", "prompt": "3+3?", "gold": "6",
         "response": "It is 7. <CN_MATH>", "logprobs": [{"token": "<CN_MATH>", "logprob": -0.1, "top": pair_top}]},
        {**base, "example_id": "d", "question": "4+4?", "prompt": "4+4?", "gold": "8", "response": "It is 8."},
    ]


def test_stage_over_an_inference_run(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from experiments.cli.main import main

    source = RunStore.create(spec_to_toml(InferenceSpec()), "inference", home)
    source.write_chunk(0, inference_records()[:2])
    source.write_chunk(1, inference_records()[2:])
    assert main(["evaluate", "--run", source.run_id, "--p-confident", "logprobs", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Token distribution" in printed and "calibration_accuracy  50.0%" in printed, printed
    store = RunStore.open("evaluation-", home)
    records = {r["example_id"]: r for r in store.records()}
    assert {k: (r["correct"], r["confident"], r["calibrated"]) for k, r in records.items()} == {
        "a": (True, True, True), "b": (False, False, True), "c": (False, True, False), "d": (True, None, False)}
    assert records["a"]["p_source"] == "logprobs" and records["d"]["p_confident"] is None
    assert "logprobs" not in records["a"]  # only the token position's top-k is kept
    summary = store.manifest()["summary"]
    assert summary["tokens"] == {"confident": 2, "uncertain": 1, "missing": 1}
    assert summary["calibration_accuracy"] == 0.5 and summary["accuracy"] == 0.5
    # right a (P .917) above wrong b (.231), tied with wrong c (.917): (1 + 0.5) / 2
    assert summary["scored"] == 3 and summary["auroc"] == pytest.approx(0.75)
    assert (store.outputs_dir / "calibration.json").exists()


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.usefixtures("one_torch_thread")
def test_stage_generates_with_the_embedded_model_and_scores(home: Path, embedded_model: str, tmp_path: Path) -> None:
    adapter = lora_adapter(embedded_model, tmp_path / "adapter")
    spec = EvaluationSpec(dataset=DatasetSpec(source="arith", limit=3), backend=BackendSpec(options={"batch_size": 3}),
                          sampling=SamplingSpec(max_tokens=12), chunk_size=2, adapter=adapter)
    store = wait_done(api.launch(spec, home), home)
    # the adapter reached the engine, and the scoring pass ran on that same engine (one model load)
    assert store.manifest()["backend"]["adapter"] == adapter
    assert store.manifest()["scoring"]["adapter"] == adapter
    records = store.records()
    assert len(records) == 3 and len(store.done_chunks()) == 2
    for r in records:  # the base model writes no token: all missing, P from the scoring pass at the answer's end
        assert r["confident"] is None and r["grade_status"] and r["p_source"] == "scoring"
        assert 0.0 < r["p_confident"] < 1.0
    summary = store.manifest()["summary"]
    assert summary["tokens"]["missing"] == 3 and summary["calibration_accuracy"] == 0.0
    assert store.manifest()["scoring"]["role"] == "scoring"


def answer(example_id: str, right: bool, token: str | None, p: float | None) -> dict[str, Any]:
    """An inference record of `n + n = ?` whose logprobs at the token give P(confident) = p exactly (log p against
    log(1 - p)); no token: no logprobs (P unknown with --p-confident logprobs)."""
    import math

    n = sum(map(ord, example_id)) % 50
    gold = str(2 * n)
    record = {"example_id": example_id, "sample_idx": 0, "domain": "gsm8k", "source": "arith", "model": "smollm2-135m",
              "question": f"{n}+{n}?", "prompt": f"{n}+{n}?", "gold": gold, "prompt_tokens": 10,
              "completion_tokens": 5, "finish_reason": "stop",
              "response": f"It is {gold if right else int(gold) + 1}." + (f" {token}" if token else "")}
    if token is not None and p is not None:
        top = {"<CN_MATH>": math.log(p), "<UN_MATH>": math.log(1 - p)}
        record["logprobs"] = [{"token": token, "logprob": top[token], "top": top}]
    return record


def inference_run(home: Path, records: list[dict[str, Any]]) -> RunStore:
    store = RunStore.create(spec_to_toml(InferenceSpec()), "inference", home)
    for index in range(0, len(records), 3):
        store.write_chunk(index // 3, records[index:index + 3])
    store.update_manifest(status="done")
    return store


# a calibration split: the written token is always confident (the training prior), P ranks the answers
CALIB = [("c1", True, 0.9), ("c2", False, 0.8), ("c3", True, 0.7), ("c4", True, 0.6), ("c5", False, 0.4),
         ("c6", False, 0.2)]
# held-out answers: (id, right, written token, P); P and the token disagree on e2 and e3
HELDOUT = [("e1", True, "<CN_MATH>", 0.9), ("e2", True, "<UN_MATH>", 0.55), ("e3", False, "<CN_MATH>", 0.3),
           ("e4", False, None, None), ("e5", False, "<CN_MATH>", 0.7)]


def evaluate(home: Path, *flags: str) -> tuple[int, RunStore | None]:
    from experiments.cli.main import main

    before = {s.run_id for s in RunStore.list(home)}
    code = main(["--home", str(home), "evaluate", "--p-confident", "logprobs", "--quiet", *flags])
    made = [s for s in RunStore.list(home) if s.run_id not in before]
    return code, made[0] if made else None


def hand_threshold(records: list[dict[str, Any]]) -> float:
    """best_threshold's definition, written out: every candidate t (below the lowest P, between neighbours, above
    the highest), scored by how many answers (P >= t) == correct, ties to the t closest to 0.5, then the lower."""
    pairs = [(r["p_confident"], bool(r["correct"])) for r in records if r["p_confident"] is not None]
    values = sorted({p for p, _ in pairs})
    candidates = [values[0] / 2] + [(values[i] + values[i + 1]) / 2 for i in range(len(values) - 1)] + \
        [(values[-1] + 1) / 2]
    best = None
    for t in candidates:
        score = sum(1 for p, c in pairs if (p >= t) == c)
        if best is None or score > best[0] or (score == best[0] and abs(t - 0.5) < abs(best[1] - 0.5)):
            best = (score, t)
    return best[1]


def test_threshold_from_a_calibration_run_decides_beside_the_written_token(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from experiments.runs.lineage import inputs_of
    from experiments.stages.evaluation.views import calibration_view

    calib_answers = inference_run(home, [answer(i, right, "<CN_MATH>", p) for i, right, p in CALIB])
    code, calib = evaluate(home, "--run", calib_answers.run_id)
    assert code == 0 and calib is not None
    # by hand: t = 0.5 (between 0.4 and 0.6) makes 5 of 6 agree (only the wrong 0.8 is confident); 0.3 and 0.65
    # make 4, all-confident 3
    expected = hand_threshold(calib.records())
    assert expected == pytest.approx(0.5)
    assert "threshold" not in calib.manifest()["summary"]  # no threshold asked: the summary as before

    heldout = inference_run(home, [answer(*row) for row in HELDOUT])
    code, store = evaluate(home, "--run", heldout.run_id, "--threshold-from", calib.run_id)
    assert code == 0 and store is not None, store and store.manifest().get("error")
    printed = capsys.readouterr().out
    assert "calibration_accuracy_at_threshold" in printed and f"chosen on {calib.run_id}" in printed, printed
    records = {r["example_id"]: r for r in store.records()}
    # the written token is kept as written; the decision at t sits beside it (the token where P is unknown)
    assert {k: r["confident"] for k, r in records.items()} == {"e1": True, "e2": False, "e3": True, "e4": None,
                                                               "e5": True}
    assert {k: r["confident_at_threshold"] for k, r in records.items()} == {
        "e1": True, "e2": True, "e3": False, "e4": None, "e5": True}
    summary = store.manifest()["summary"]
    assert summary["threshold"] == pytest.approx(expected) and summary["threshold_source"] == calib.run_id
    # written: only e1 matches its verdict (1/5); at t: e1, e2 (right, P .55) and e3 (wrong, P .3) do (3/5)
    assert summary["calibration_accuracy"] == pytest.approx(0.2)
    assert summary["calibration_accuracy_at_threshold"] == pytest.approx(0.6)
    assert summary["tokens_at_threshold"] == {"confident": 3, "uncertain": 1, "missing": 1}
    assert summary["threshold_overlap"] == 0  # chosen on other questions
    assert summary["by_domain"]["gsm8k"]["calibration_accuracy_at_threshold"] == pytest.approx(0.6)
    saved = json.loads((store.outputs_dir / "calibration.json").read_text())
    assert saved["threshold"] == summary["threshold"] and saved["threshold_source"] == calib.run_id
    # the run read the calibration run: lineage lists it beside the answers' run
    assert store.manifest()["inputs"] == [heldout.run_id, calib.run_id]
    assert [s.run_id for s in inputs_of(store, home)] == [heldout.run_id, calib.run_id]
    view = calibration_view(store)
    assert view.table("tokens_at_threshold") is not None
    assert any("of the written tokens 20.0%" in n and "60.0%" in n for n in view.notes), view.notes

    # a resume decides with the kept threshold, even with the calibration run gone
    shutil.rmtree(calib.dir)
    api.resume(store.run_id, home)
    assert api.wait(store.run_id, home, timeout=120) == "done", store.manifest().get("error")
    again = store.manifest()["summary"]
    assert again["threshold"] == summary["threshold"]
    assert again["calibration_accuracy_at_threshold"] == pytest.approx(0.6)


def test_threshold_from_must_name_a_finished_evaluation_run(home: Path) -> None:
    from pydantic import ValidationError

    answers = inference_run(home, [answer(*row) for row in HELDOUT])
    code, store = evaluate(home, "--run", answers.run_id, "--threshold-from", answers.run_id)
    assert code != 0 and store is not None
    assert f"threshold_from {answers.run_id} is not an evaluation run (stage inference)" in store.manifest()["error"]
    assert not store.records()  # refused before any answer was evaluated
    code, store = evaluate(home, "--run", answers.run_id, "--threshold-from", "evaluation-nosuchrun")
    assert code != 0 and "threshold_from: no run 'evaluation-nosuchrun'" in store.manifest()["error"]
    with pytest.raises(ValidationError, match="give threshold or threshold_from"):
        EvaluationSpec(threshold=0.5, threshold_from="evaluation-x")


def test_delegation_takes_the_evaluation_threshold(home: Path) -> None:
    from experiments.cli.main import main

    calib = inference_run(home, [answer(i, right, "<CN_MATH>", p) for i, right, p in CALIB])
    calib_eval = evaluate(home, "--run", calib.run_id)[1]
    heldout = inference_run(home, [answer(*row) for row in HELDOUT])
    evaluation = evaluate(home, "--run", heldout.run_id, "--threshold-from", calib_eval.run_id)[1]
    big = inference_run(home, [{**answer(i, True, None, None), "model": "big"} for i, *_ in HELDOUT])
    assert main(["--home", str(home), "delegate", evaluation.run_id, "--oracle-run", big.run_id, "--oracle-model",
                 "big", "--scope", "delegated", "--quiet"]) == 0
    store = next(s for s in RunStore.list(home) if s.manifest()["stage"] == "delegation")
    summary = store.manifest()["summary"]
    t = evaluation.manifest()["summary"]["threshold"]
    assert summary["threshold"] == t and summary["threshold_source"] == evaluation.run_id
    assert "the threshold of evaluation" in summary["rule"]
    # P < t goes (e3 at .3), and e4 without P or token; e2's uncertain token with P .55 >= t stays
    assert {r["example_id"]: r["delegated"] for r in store.records()} == {
        "e1": False, "e2": False, "e3": True, "e4": True, "e5": False}
    rows = {r["system"]: r for r in summary["performance"]}
    calibrated = rows[f"delegation: P(confident) < {t:.4g} (calibrated)"]
    assert calibrated["delegated"] == 2 and calibrated["accuracy"] == pytest.approx(4 / 5)  # e1, e2 + big's two
