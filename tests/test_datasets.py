"""Dataset sources: built-ins, each file format, column mappings, row errors and the `datasets` command."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.datasets import (
    SOURCES,
    DatasetSpec,
    Example,
    LoadResult,
    RowError,
    Source,
    describe_source,
    load_examples,
    register,
)
from experiments.datasets.cli import handler, parse_columns
from experiments.datasets.cli import register as register_cli
from experiments.datasets.extract import last_boxed, question_text
from experiments.datasets.sources import plan_load

DATA = Path(__file__).parent / "data"


def _load(**kw: object) -> LoadResult:
    return load_examples(DatasetSpec(**kw))


def _reasons(result: LoadResult) -> dict[str, str]:
    return {e.item_id: e.reason for e in result.errors}


def test_public_api_is_kept() -> None:
    assert {"gsm8k", "gpqa-diamond", "aime2025", "math", "math500", "medqa", "boolq", "deepscaler",
            "verl"} <= set(SOURCES)
    assert Example and RowError and Source and register


# --- built-ins ------------------------------------------------------------------------------------

def test_gsm8k_builtin() -> None:
    head = _load(source="gsm8k", limit=3)
    assert [e.example_id for e in head.examples] == [f"gsm8k-test-00000{i}" for i in range(3)]
    assert head.examples[0].gold == "18" and head.examples[0].domain == "gsm8k"
    full = _load(source="gsm8k")
    assert len(full.examples) == 1319 and not full.errors
    assert all("," not in e.gold and "####" not in e.gold for e in full.examples)


def test_gpqa_diamond_builtin() -> None:
    first = _load(source="gpqa-diamond")
    assert len(first.examples) == 198 and not first.errors
    raw = pd.read_csv(SOURCES["gpqa-diamond"].files("test")[0], dtype=str, keep_default_na=False)
    letters = set()
    for ex, (_, row) in zip(first.examples, raw.iterrows(), strict=True):
        options = ex.context["options"]
        assert list(options) == ["A", "B", "C", "D"] and ex.domain == "mc"
        assert options[ex.gold] == row["Correct Answer"].strip()
        columns = ("Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
        assert sorted(options.values()) == sorted(row[c].strip() for c in columns)
        letters.add(ex.gold)
    assert letters == {"A", "B", "C", "D"}  # shuffled, not always A
    again = _load(source="gpqa-diamond")
    assert [(e.gold, e.context["options"]) for e in again.examples] == \
        [(e.gold, e.context["options"]) for e in first.examples]
    json.dumps([e.context for e in first.examples])


def test_aime2025_builtin() -> None:
    result = _load(source="aime2025")
    assert len(result.examples) == 30 and not result.errors
    ids = [e.example_id for e in result.examples]
    assert ids == [f"aime2025-test-{i:06d}" for i in range(30)]
    # all integers but one ("336^\\circ" in the data)
    assert result.examples[0].gold == "70" and all(e.gold[:1].isdigit() for e in result.examples)
    assert _load(source="aime2025", offset=15, limit=2).examples[0].example_id == "aime2025-test-000015"


def test_describe_builtin_and_hub_source() -> None:
    info = describe_source("gpqa-diamond")
    assert (info["domain"], info["template"], info["rows"]) == ("mc", "mc", 198)
    assert info["files"][0].endswith("gpqa_diamond.csv")
    math = describe_source("math500")
    assert math["hub"] == "HuggingFaceH4/MATH-500" and math["rows"] is None and math["template"] == "math"
    local = describe_source("math500", DatasetSpec(source="math500", path=str(DATA / "math.jsonl")))
    assert local["rows"] == 5 and local["hub"] == "HuggingFaceH4/MATH-500" and local["files"]


def test_unknown_source_raises() -> None:
    with pytest.raises(FileNotFoundError):
        _load(source="no-such-dataset")
    with pytest.raises(FileNotFoundError):
        _load(source="math", path=str(DATA / "absent.jsonl"))


# --- local files in each format -------------------------------------------------------------------

def test_math_jsonl_boxed_answers() -> None:
    result = _load(source="math", path=str(DATA / "math.jsonl"))
    golds = {e.index: e.gold for e in result.examples}
    nested = "\\left\\{ \\frac{1}{2}, \\sqrt{3} \\right\\}"
    assert golds == {0: "\\frac{1}{2}", 1: "5", 2: "x^{a+b}", 4: nested}
    assert _reasons(result) == {"math-000003": "missing_answer"}
    assert all(e.domain == "math" for e in result.examples)


def test_file_source_is_recognised_from_its_columns() -> None:
    result = _load(source=str(DATA / "medqa.jsonl"))
    assert [e.gold for e in result.examples] == ["D", "C"]
    assert describe_source(str(DATA / "medqa.jsonl"))["source"] == "medqa"


def test_medqa_options_and_letters() -> None:
    result = _load(source="medqa", path=str(DATA / "medqa.jsonl"))
    first, second = result.examples
    assert first.gold == "D" and list(first.context["options"]) == ["A", "B", "C", "D"]
    assert second.gold == "C" and second.context["options"]["C"] == "Vitamin C"  # list + answer text
    assert _reasons(result) == {"medqa-000002": "missing_answer", "medqa-000003": "missing_field"}


def test_boolq_yes_no_with_passage() -> None:
    result = _load(source="boolq", path=str(DATA / "boolq.jsonl"))
    assert [e.gold for e in result.examples] == ["yes", "no"]
    assert "Rayleigh" in result.examples[0].context["passage"] and result.examples[0].domain == "yesno"
    assert _reasons(result) == {"boolq-000002": "missing_answer"}


def test_deepscaler_json() -> None:
    result = _load(source="deepscaler", path=str(DATA / "deepscaler.json"))
    assert [e.gold for e in result.examples] == ["8", "4", "15"]  # the last from its solution's box
    assert not result.errors


def test_gsm8k_style_file_with_bad_rows() -> None:
    result = _load(source=str(DATA / "gsm8k_bad.jsonl"))
    assert [(e.example_id, e.gold) for e in result.examples] == [("gsm8k_bad-000000", "1203"),
                                                                 ("gsm8k_bad-000003", "20")]
    assert _reasons(result) == {"gsm8k_bad-000001": "malformed_row", "gsm8k_bad-000002": "missing_field"}


def test_csv_with_column_mapping() -> None:
    columns = {"question": "q", "answer": "a", "options": "choices", "passage": "text"}
    result = _load(source=str(DATA / "mapped.csv"), columns=columns, domain="mc", template="mc")
    first, second = result.examples
    assert first.context["options"] == {"A": "Mars", "B": "Jupiter", "C": "Venus"} and first.gold == "B"
    assert second.gold == "B" and second.context["passage"] == "Mammals breathe air."
    assert _reasons(result) == {"mapped-000002": "missing_field"}
    spec = DatasetSpec(source=str(DATA / "mapped.csv"), columns=columns, template="mc")
    assert describe_source(spec.source, spec)["template"] == "mc"


def _verl_parquet(path: Path) -> Path:
    system = {"role": "system", "content": "Be careful."}
    rows = [
        {"data_source": "openai/gsm8k", "ability": "math",
         "prompt": [system, {"role": "user", "content": "What is 2+2?"}],
         "reward_model": {"ground_truth": "4", "style": "rule"},
         "extra_info": {"index": np.int64(7), "split": "train", "scores": np.array([1.5, 2.0])}},
        {"data_source": "boolq", "ability": "reading",
         "prompt": [{"role": "user", "content": "Is ice cold?"}],
         "reward_model": {"ground_truth": "yes", "style": "rule"},
         "extra_info": {"index": np.int64(8), "split": "train", "scores": None}},
        {"data_source": "custom", "ability": "other", "prompt": [{"role": "user", "content": "Name it."}],
         "reward_model": {"ground_truth": "", "style": "rule"}, "extra_info": None},
    ]
    pd.DataFrame(rows).to_parquet(path / "train.parquet")
    return path / "train.parquet"


def test_verl_parquet(tmp_path: Path) -> None:
    path = _verl_parquet(tmp_path)
    for spec in (DatasetSpec(source="verl", path=str(path)), DatasetSpec(source=str(path))):
        result = load_examples(spec)
        math, yesno = result.examples
        assert (math.question, math.gold, math.domain) == ("What is 2+2?", "4", "math")
        assert (yesno.question, yesno.gold, yesno.domain) == ("Is ice cold?", "yes", "yesno")
        assert math.context["data_source"] == "openai/gsm8k" and math.context["ability"] == "math"
        assert math.context["extra_info"] == {"index": 7, "split": "train", "scores": [1.5, 2.0]}
        json.dumps([e.context for e in result.examples])
        assert [e.reason for e in result.errors] == ["missing_field"]
    assert load_examples(DatasetSpec(source=str(path), columns={"question": "prompt",
                                                                "answer": "reward_model.ground_truth"},
                                     domain="math")).examples[0].gold == "4"


def test_weird_inputs_are_converted_or_reported(tmp_path: Path) -> None:
    path = tmp_path / "weird.jsonl"
    rows = [{"question": 12345, "answer": 6.0}, {"question": {"no": "content"}, "answer": "1"},
            {"question": "x" * 300_000, "answer": "1"}, {"question": ["line one", "line two"], "answer": "2"},
            [1, 2, 3]]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = _load(source=str(path), domain="math")
    assert [(e.question, e.gold) for e in result.examples] == [("12345", "6")]
    assert _reasons(result) == {"weird-000001": "wrong_type", "weird-000002": "too_long",
                                "weird-000003": "wrong_type", "weird-000004": "malformed_row"}


def test_last_boxed_and_question_text() -> None:
    assert last_boxed("a \\boxed{1} then \\boxed{\\frac{a}{b}}") == "\\frac{a}{b}"
    assert last_boxed("\\boxed{unbalanced") is None and last_boxed("no box") is None
    assert question_text([{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a"},
                          {"role": "user", "content": "q2"}]) == "q2"


# --- the `datasets` command -----------------------------------------------------------------------

def _run(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    args = parser.parse_args(argv)
    out = io.StringIO()
    return args.func(args, out=out), out.getvalue()


def test_cli_table() -> None:
    code, text = _run(["datasets"])
    assert code == 0
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "1319" in lines["gsm8k"] and "198" in lines["gpqa-diamond"] and "30" in lines["aime2025"]
    assert "HuggingFaceH4/MATH-500" in lines["math500"] and "--file" in lines["verl"]


def test_cli_builtin_preview() -> None:
    code, text = _run(["datasets", "gpqa-diamond", "--limit", "2", "--system-prompt", "Be brief."])
    assert code == 0
    assert "template" in text and "198 loaded, 0 row errors" in text
    assert text.count("--- example") == 2 and "[system]\nBe brief.\n[user]" in text
    assert "\nA. " in text and "Answer: X" in text and "gold: " in text


def test_cli_file_preview_with_mapping_and_errors() -> None:
    columns = "question=q,answer=a,options=choices"
    code, text = _run(["datasets", str(DATA / "mapped.csv"), "--columns", columns, "--domain", "mc",
                       "--limit", "1"])
    assert code == 0 and "2 loaded, 1 row errors" in text and "missing_field: 1" in text
    assert "A. Mars" in text and "gold: B" in text and text.count("--- example") == 1
    code, text = _run(["datasets", "boolq", "--file", str(DATA / "boolq.jsonl")])
    assert code == 0 and "Passage: On a clear day" in text and "missing_answer: 1" in text


def test_cli_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["datasets", "no-such-dataset"])[0] == 2
    assert "not a built-in source" in capsys.readouterr().err
    assert _run(["datasets", "gsm8k", "--columns", "question"])[0] == 2
    assert parse_columns("question=q, answer=a.b") == {"question": "q", "answer": "a.b"}
    assert handler(argparse.Namespace(name=None), out=io.StringIO()) == 0


def test_hub_names_resolve_to_their_source() -> None:
    plan = plan_load(DatasetSpec(source="openai/gsm8k"))
    assert (plan.source.name, plan.hub, plan.prefix) == ("gsm8k", "openai/gsm8k:main", "gsm8k-test")
    assert plan_load(DatasetSpec(source="gsm8k", split="train")).hub == "openai/gsm8k:main"
    assert plan_load(DatasetSpec(source="boolq")).split == "validation"  # BoolQ has no test split
    assert plan_load(DatasetSpec(source="math500", path=str(DATA / "math.jsonl"))).hub is None
    with pytest.raises(ValueError):
        plan_load(DatasetSpec(source="verl"))


def test_hub_loader_on_a_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    folder = tmp_path / "mini_gsm8k"
    folder.mkdir()
    lines = (DATA / "gsm8k_bad.jsonl").read_text().splitlines()
    good = [line for line in lines if "####" in line and line.endswith("}")]  # the two well-formed rows
    (folder / "test.jsonl").write_text("\n".join(good) + "\n")
    result = _load(source=str(folder), domain="gsm8k")
    assert [(e.example_id, e.gold) for e in result.examples] == [("mini_gsm8k-test-000000", "1203"),
                                                                 ("mini_gsm8k-test-000001", "20")]
