"""Curation logic with hand-computed expectations: pass rates, bucket edges, thresholds, the mixed rule,
critique sampling, verl columns and types, domain sampling, the spec."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from experiments.stages.curation.buckets import (
    BUCKETS,
    bucket_codes,
    bucket_counts,
    bucket_report,
    kept_counts,
    shifted,
)
from experiments.stages.curation.critique import INSTRUCTION, critique_examples
from experiments.stages.curation.filters import annotate, apply_filter, keep_mask, merged_rates
from experiments.stages.curation.mixed import mixed_filter
from experiments.stages.curation.passrates import (
    VerdictOptions,
    compute_passrates,
    idx_to_passrate,
    load_passrates,
)
from experiments.stages.curation.sampling import read_domains, sample_domains
from experiments.stages.curation.verl import VERL_COLUMNS, verl_table
from experiments.stages.grading.verdicts import write_verdicts
from tests.curation_fixtures import graded_run

T, F = True, False


def rates_of(table: pa.Table) -> dict[int, float]:
    return {i: r for i, r in zip(table.column("index").to_pylist(), table.column("rate").to_pylist(), strict=True)}


def test_pass_rates_by_hand(home: Path) -> None:
    store = graded_run(home, {0: [T, T, T, T], 1: [T, F, T, F], 2: [F, F, F, F], 3: [T, None, F, F],
                              7: [None, None]})
    table = compute_passrates(store)
    rates = rates_of(table)
    assert rates[0] == 1.0 and rates[1] == 0.5 and rates[2] == 0.0
    assert rates[3] == pytest.approx(1 / 3)  # the timeout counts in n, not in graded
    assert math.isnan(rates[7])
    row3 = table.to_pylist()[3]
    assert (row3["n"], row3["graded"], row3["correct"]) == (4, 3, 1)
    assert row3["example_id"] == "arith-test-000003" and row3["model"] == "weak-model"
    assert idx_to_passrate(table) == {"0": 1.0, "1": 0.5, "2": 0.0, "3": pytest.approx(1 / 3)}


def test_verdicts_parquet_fast_path_and_cache(home: Path) -> None:
    store = graded_run(home, {0: [T, F], 1: [F, F], 2: [T, T]})
    slow = compute_passrates(store)
    write_verdicts(store, store.records())
    fast = compute_passrates(store)
    assert fast.to_pylist() == slow.to_pylist()
    first = load_passrates(store)
    assert (store.outputs_dir / "passrates.parquet").exists()
    assert load_passrates(store).to_pylist() == first.to_pylist()
    # a force-resumed (regraded) chunk invalidates both the verdicts file and the cache
    records = store.read_chunk(0)
    for r in records:
        r["correct"] = True
    store.write_chunk(0, records)
    assert rates_of(load_passrates(store)) == {0: 1.0, 1: 1.0, 2: 1.0}


def test_examples_split_across_chunks_are_summed(home: Path) -> None:
    store = graded_run(home, {0: [T, F, F, F]})
    records = store.read_chunk(0)
    store.write_chunk(0, records[:2])
    store.write_chunk(1, records[2:] + [{**records[0], "example_id": "other", "index": 9, "correct": True}])
    assert rates_of(compute_passrates(store)) == {0: 0.25, 9: 1.0}


def test_reward_verdict_with_threshold(home: Path) -> None:
    store = graded_run(home, {0: [T, T, T, T]}, stage="reward")
    records = store.read_chunk(0)
    for r, score in zip(records, [0.2, 0.5, 0.9, 1.0], strict=True):
        r["score"] = score
    store.write_chunk(0, records)
    opts = VerdictOptions(verdict="reward", reward_field="score", threshold=0.5)
    assert rates_of(compute_passrates(store, opts)) == {0: 0.75}  # 0.5 >= 0.5 counts


def test_bucket_edges_exactly() -> None:
    rates = [0.0, 1e-9, 0.1, 0.2, 0.3999, 0.4, 0.6, 0.8, 0.9999, 1.0, float("nan")]
    names = [BUCKETS[c] if c >= 0 else "ungraded" for c in bucket_codes(rates)]
    assert names == ["impossible", "very hard", "very hard", "hard", "hard", "medium", "easy", "very easy",
                     "very easy", "perfect", "ungraded"]
    fractions = np.array([k / 5 for k in range(6)])  # rates as computed: k correct of 5
    assert [BUCKETS[c] for c in bucket_codes(fractions)] == ["impossible", "hard", "medium", "easy",
                                                              "very easy", "perfect"]
    assert bucket_codes([4 / 5])[0] == BUCKETS.index("very easy")
    assert bucket_counts(bucket_codes(rates)).tolist() == [1, 2, 2, 1, 1, 2, 1]
    mask = np.array([T, T, F, T, T, T, T, T, F, T, T])
    assert kept_counts(shifted(bucket_codes(rates)), mask).tolist() == [1, 1, 2, 1, 1, 1, 1]
    assert kept_counts(shifted(bucket_codes(rates)), mask).tolist() == bucket_counts(bucket_codes(rates), mask).tolist()


def test_bucket_report_per_dataset_and_model() -> None:
    report = bucket_report([("gsm8k", "small", np.array([0, 0.5, 1.0, 1.0])),
                            ("math", "small", np.array([0.0, 0.1])),
                            ("gsm8k", "big", np.array([1.0, np.nan]))])
    small = report.models[0]
    assert small.model == "small" and small.counts == [2, 1, 0, 1, 0, 0, 2] and small.total == 6
    assert small.percents()[0] == pytest.approx(100 * 2 / 6)
    assert report.models[1].counts[-1] == 1 and report.models[1].ungraded == 1
    assert report.as_dict()["datasets"][1]["percents"]["impossible"] == 50.0


def test_thresholds_are_inclusive() -> None:
    low = np.array([0.0, 0.25, 0.25, 0.5, np.nan, 0.5])
    high = np.array([0.5, 0.5, 0.75, 0.7, 0.5, 0.75])
    assert keep_mask(low, high, 0.25, 0.75).tolist() == [F, F, F, T, F, F]
    table = pa.table({"q": list("abcdef"), "low_pass_rate": low, "high_pass_rate": high})
    kept, summary = apply_filter(table, list(range(6)), 0.25, 0.75)
    assert kept.column("q").to_pylist() == ["d"] and summary["kept"] == [3]
    reasons = {d["id"]: d["reason"] for d in summary["dropped"]}
    assert reasons == {0: "low_pass_rate <= 0.25", 1: "low_pass_rate <= 0.25",
                       2: "low_pass_rate <= 0.25 and high_pass_rate >= 0.75", 4: "no_pass_rate",
                       5: "high_pass_rate >= 0.75"}


def test_annotate_aligns_rows_by_index(home: Path) -> None:
    weak = graded_run(home, {0: [T, F], 2: [F, F], 1: [T, T]})
    strong = graded_run(home, {0: [T, T], 1: [T, T], 2: [T, F], 3: [F, F]}, model="strong-model")
    source = pa.table({"prompt": ["p0", "p1", "p2", "p3"]})
    keys = np.arange(4)
    out = annotate(source, keys, merged_rates([load_passrates(weak)]), merged_rates([load_passrates(strong)]))
    assert out.column("low_pass_rate").to_pylist()[:3] == [0.5, 1.0, 0.0]
    assert math.isnan(out.column("low_pass_rate").to_pylist()[3])
    assert out.column("high_pass_rate").to_pylist() == [1.0, 1.0, 0.5, 0.0]


MIXED_CASES = {  # index: (weak samples, strong samples)
    0: ([T, T], [T, T]),  # both all right -> drop
    1: ([F, F], [F, F]),  # both all wrong -> drop
    2: ([T, T], [F, F]),  # all right vs all wrong -> drop (no model is mixed), kept with keep_disagreement
    3: ([F, F], [T, T]),  # all wrong vs all right -> same
    4: ([T, F], [T, T]),  # weak mixed -> keep
    5: ([F, F], [F, T]),  # strong mixed -> keep
    6: ([T, F], [F, T]),  # both mixed -> keep
}


def mixed_stores(home: Path) -> tuple:
    weak = graded_run(home, {i: w for i, (w, _) in MIXED_CASES.items()} | {7: [T, F]})
    strong = graded_run(home, {i: s for i, (_, s) in MIXED_CASES.items()} | {8: [T, T]}, model="strong-model")
    return weak, strong


def test_mixed_result_rule(home: Path) -> None:
    weak, strong = mixed_stores(home)
    sols, questions, summary = mixed_filter([weak], [strong], VerdictOptions())
    kept = sorted(questions.loc[questions["kept"], "index"].tolist())
    assert kept == [4, 5, 6, 7]  # 7: only the weak model saw it, and it is mixed
    reasons = dict(zip(questions["index"], questions["reason"], strict=True))
    assert reasons[0] == "both_all_right" and reasons[1] == "both_all_wrong"
    assert reasons[2] == reasons[3] == "all_right_vs_all_wrong" and reasons[8] == "one_model_only"
    assert len(sols) == 3 * 2 * 2 + 2  # both models' 2 solutions for 4, 5, 6; weak's 2 for 7
    row = sols[(sols["index"] == 5) & (sols["role"] == "strong")].iloc[0]
    assert row["weak_consistency"] == "all_wrong" and row["strong_consistency"] == "mixed"
    assert summary["kept_questions"] == 4 and summary["dropped_by_reason"]["all_right_vs_all_wrong"] == 2
    _, questions, _ = mixed_filter([weak], [strong], VerdictOptions(), keep_disagreement=True)
    assert sorted(questions.loc[questions["kept"], "index"].tolist()) == [2, 3, 4, 5, 6, 7]


def solutions_frame(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    rows = []
    for eid, (n_weak, n_strong) in counts.items():
        for role, n in (("weak", n_weak), ("strong", n_strong)):
            rows += [{"example_id": eid, "index": 0, "sample_idx": s, "role": role, "model": f"{role}-m",
                      "question": f"Q {eid}", "response": f"{role} says {s}", "gold": "42",
                      "correct": s % 2 == 0} for s in range(n)]
    return pd.DataFrame(rows)


def test_critique_sampling_counts_and_seed() -> None:
    frame = solutions_frame({"a": (4, 4), "b": (1, 2), "c": (8, 0)})
    examples, summary = critique_examples(frame, max_per_question=4, seed=1)
    assert examples.groupby("example_id").size().to_dict() == {"a": 4, "b": 3, "c": 4}
    assert summary["examples"] == 11 and summary["per_question"] == {"3": 1, "4": 2}
    assert summary["targets"]["right"] + summary["targets"]["wrong"] == 11
    assert summary["targets"]["right"] == int((examples["target"] == "right").sum())
    shuffled, _ = critique_examples(frame.sample(frac=1, random_state=3), max_per_question=4, seed=1)
    assert shuffled.to_dict("records") == examples.to_dict("records")  # row order does not matter
    picks = {tuple(critique_examples(frame, 4, seed)[0]["solution"]) for seed in range(6)}
    assert len(picks) > 1  # the seed chooses
    e = examples.iloc[0]
    assert e["prompt"].startswith(INSTRUCTION) and "Conclusion: right [END]" in e["prompt"]
    assert e["target"] == ("right" if int(e["solution"].split()[-1]) % 2 == 0 else "wrong")
    assert e["ground_truth"] == "42" and e["source_model"] in ("weak-m", "strong-m")


def test_verl_columns_and_types(tmp_path: Path) -> None:
    examples, _ = critique_examples(solutions_frame({"a": (2, 2)}), 4, 0)
    table = verl_table(examples, "arith-critique")
    path = tmp_path / "verl.parquet"
    import pyarrow.parquet as pq

    pq.write_table(table, path)
    frame = pd.read_parquet(path)
    assert tuple(frame.columns) == VERL_COLUMNS == ("data_source", "prompt", "ability", "reward_model",
                                                    "extra_info")
    schema = pq.read_schema(path)
    assert schema.field("prompt").type == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    assert schema.field("reward_model").type == pa.struct([("ground_truth", pa.string()), ("style", pa.string())])
    row = table.to_pylist()[0]
    assert row["ability"] == "critique" and row["data_source"] == "arith-critique"
    assert row["prompt"][0]["role"] == "user" and row["reward_model"]["ground_truth"] in ("right", "wrong")
    assert set(row["extra_info"]) == {"solution", "question_ground_truth", "source_model", "role", "example_id",
                                      "index", "sample_idx"}
    assert row["extra_info"]["question_ground_truth"] == "42"


def test_domain_sampling_with_the_embedded_tokenizer(tmp_path: Path, embedded_model: str) -> None:
    import pyarrow.parquet as pq

    from backends.tokenize import count_tokens, load_tokenizer

    short = [[{"role": "user", "content": f"add {i} and {i}"}] for i in range(10)]
    long = [[{"role": "user", "content": "word " * 300}] for _ in range(3)]
    pq.write_table(pa.table({"prompt": short + long, "answer": list(range(13))}), tmp_path / "math.parquet")
    pq.write_table(pa.table({"prompt": short[:4], "answer": list(range(4))}), tmp_path / "code.parquet")
    table = read_domains([str(tmp_path / "math.parquet"), str(tmp_path / "code.parquet")])
    tok = load_tokenizer("smollm2-135m")
    encoded = tok.apply_chat_template(short[0], tokenize=True, add_generation_prompt=True, return_dict=True)
    expected = len(encoded["input_ids"])  # the tokenizer's own chat-template tokenization
    assert count_tokens([short[0]])[0] == expected

    def counter(prompts: list) -> list[int]:
        return count_tokens(prompts, "smollm2-135m")

    out, report = sample_domains(table, "prompt", counter, 200, 6, seed=7)
    assert report["domains"]["math"]["dropped_too_long"] == 3 and report["dropped_too_long"] == 3
    assert report["domains"]["math"]["sampled"] == 6 and report["domains"]["code"]["sampled"] == 4
    assert report["domains"]["code"]["shortfall"] == 2
    assert [d["source_row"] for d in report["domains"]["math"]["dropped_examples"]] == [10, 11, 12]
    assert max(out.column("prompt_tokens").to_pylist()) <= 200
    again, _ = sample_domains(table, "prompt", counter, 200, 6, seed=7)
    assert again.column("source_row").to_pylist() == out.column("source_row").to_pylist()
    other, _ = sample_domains(table, "prompt", counter, 200, 6, seed=8)
    assert other.column("source_row").to_pylist() != out.column("source_row").to_pylist()


def test_spec_refuses_missing_inputs_and_round_trips() -> None:
    from experiments.specs import SpecError, spec_to_toml
    from experiments.stages import parse_spec, spec_from_toml

    with pytest.raises(SpecError, match="weak_runs"):
        parse_spec({"stage": "curation", "action": "filter"})
    with pytest.raises(SpecError, match="files"):
        parse_spec({"stage": "curation", "action": "sample"})
    with pytest.raises(SpecError, match="low_thres"):
        parse_spec({"stage": "curation", "low_thres": 0.1})
    spec = parse_spec({"stage": "curation", "action": "filter", "weak_runs": ["a"], "strong_runs": ["b"],
                       "low_thresh": 0.25})
    assert spec_from_toml(spec_to_toml(spec)) == spec
    for name, field in type(spec).model_fields.items():
        assert name in ("stage", "title", "group", "then") or field.description, name


def test_filter_summary_json_is_serialisable(home: Path) -> None:
    table = pa.table({"low_pass_rate": [0.5], "high_pass_rate": [0.5]})
    _, summary = apply_filter(table, [0], 0.0, 1.0)
    assert json.loads(json.dumps(summary))["kept"] == [0]


def test_curation_follows_grading_in_a_then_chain() -> None:
    from experiments.runs.pipeline import pipeline_from_chain
    from experiments.specs import SpecError
    from experiments.stages import parse_spec

    chain = {"stage": "inference", "then": [{"stage": "grading"}, {"stage": "curation", "action": "buckets"}]}
    pipeline = parse_spec(pipeline_from_chain(chain))  # input_run comes from the step before
    assert [s.name for s in pipeline.steps] == ["inference", "grading", "curation"]
    bad = {"stage": "inference", "then": [{"stage": "curation", "action": "mixed"}]}
    with pytest.raises(SpecError, match="weak_runs"):
        parse_spec(pipeline_from_chain(bad))
