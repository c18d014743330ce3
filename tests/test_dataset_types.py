"""Loaders refuse wrong types and NaN as row errors with their reason, and decode (or refuse, naming the
encoding) files that are not plain UTF-8: real JSONL, JSON, CSV and Parquet files in tmp_path."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from experiments.datasets.base import DatasetSpec, LoadResult
from experiments.datasets.sources import load_examples

GOOD = {"question": "What is 2 + 2?", "answer": "4"}
BAD_ROWS = [
    GOOD,
    {"question": ["What is", "2 + 2?"], "answer": "4"},  # a list as the question
    {"question": "What is 2 + 2?", "answer": {"value": 4}},  # a dict as the gold
    {"question": "What is 2 + 2?", "answer": float("nan")},  # NaN as the gold (JSON's NaN literal)
    {"question": float("nan"), "answer": "4"},  # NaN as the question
    {"question": "Is the sky green?", "answer": True},  # a bool is not a math answer
    {"question": "What is 3 + 3?", "answer": [6]},  # a one-element list is unwrapped
]
EXPECTED = {1: "wrong_type", 2: "wrong_type", 3: "nan_value", 4: "nan_value", 5: "wrong_type"}


def load(path: Path, **kw: object) -> LoadResult:
    return load_examples(DatasetSpec(source=str(path), domain="math", **kw))


def by_row(result: LoadResult) -> dict[int, tuple[str, str]]:
    return {int(e.item_id.rsplit("-", 1)[1]): (e.reason, e.detail) for e in result.errors}


def check_bad_rows(result: LoadResult) -> None:
    errors = by_row(result)
    assert {row: reason for row, (reason, _) in errors.items()} == EXPECTED
    assert "'question'" in errors[1][1] and "list" in errors[1][1]
    assert "'answer'" in errors[2][1] and "object" in errors[2][1]
    assert "nan" in errors[3][1].lower() and "'question'" in errors[4][1]
    assert [(e.index, e.gold) for e in result.examples] == [(0, "4"), (6, "6")]


def test_jsonl_wrong_types_and_nan(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in BAD_ROWS) + "\n", encoding="utf-8")
    check_bad_rows(load(path))


def test_json_wrong_types_and_nan(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(BAD_ROWS), encoding="utf-8")
    check_bad_rows(load(path))


def test_csv_nan_cells(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("question,answer\nWhat is 2 + 2?,4\nWhat is 1 + 1?,NaN\nnan,3\n", encoding="utf-8")
    result = load(path)
    assert {row: reason for row, (reason, _) in by_row(result).items()} == {1: "nan_value", 2: "nan_value"}
    assert [e.gold for e in result.examples] == ["4"]


def test_parquet_nan_null_list_and_struct(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"question": ["What is 2 + 2?", "q1", "q2"], "answer": [4.0, float("nan"), None]}), path)
    result = load(path)
    assert {row: reason for row, (reason, _) in by_row(result).items()} == {1: "nan_value", 2: "missing_field"}
    assert [e.gold for e in result.examples] == ["4"]

    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"question": [["What is", "2 + 2?"], ["ok"]],
                             "answer": [{"value": 4}, {"value": 5}]}), nested)
    errors = by_row(load(nested))
    assert [reason for reason, _ in errors.values()] == ["wrong_type", "wrong_type"]
    assert "list" in errors[0][1]


ENCODED = [
    ("utf-8-sig", lambda text: text.encode("utf-8-sig")),
    ("utf-16 le bom", lambda text: text.encode("utf-16")),  # Python writes the BOM in native (LE) order
    ("utf-16 be bom", lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be")),
    ("utf-32 le bom", lambda text: codecs.BOM_UTF32_LE + text.encode("utf-32-le")),
    ("utf-32 be bom", lambda text: codecs.BOM_UTF32_BE + text.encode("utf-32-be")),
]


@pytest.mark.parametrize("name,encode", ENCODED)
@pytest.mark.parametrize("suffix", ["jsonl", "json", "csv"])
def test_byte_order_marks_are_decoded(tmp_path: Path, name: str, encode, suffix: str) -> None:  # noqa: ANN001
    rows = [{"question": "Combien font 2 + 2 ? (réponse)", "answer": "4"}, {"question": "Ünïcode 3 + 3", "answer": "6"}]
    if suffix == "jsonl":
        text = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
    elif suffix == "json":
        text = json.dumps(rows, ensure_ascii=False)
    else:
        text = "question,answer\n" + "".join(f"\"{r['question']}\",{r['answer']}\n" for r in rows)
    path = tmp_path / f"data.{suffix}"
    path.write_bytes(encode(text))
    result = load(path)
    assert not result.errors, result.errors
    assert [(e.question, e.gold) for e in result.examples] == [(r["question"], r["answer"]) for r in rows]


def test_other_encodings_are_refused_with_their_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "".join(json.dumps({"question": f"Quelle est la réponse n° {i} ? été, café, déjà", "answer": str(i)},
                              ensure_ascii=False) + "\n" for i in range(20))
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(text.encode("cp1252"))
    with pytest.raises(ValueError, match=r"latin\.jsonl is not UTF-8 \(byte 0xe9 at offset \d+\); it looks like"):
        load(latin)
    no_bom = tmp_path / "utf16.jsonl"
    no_bom.write_bytes(text.encode("utf-16-le"))
    with pytest.raises(ValueError, match="UTF-16-LE without a byte-order mark"):
        load(no_bom)

    from experiments.cli.main import main

    assert main(["datasets", str(no_bom)]) == 2
    assert "UTF-16-LE" in capsys.readouterr().err
