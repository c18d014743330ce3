"""The records index (`experiments.views.records_index`): lazy reading by row and offset, counts and filters by
column, search by substring, rebuilt only where chunks changed; checked against brute force over the records."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from experiments.runs.store import RunStore
from experiments.views.records_index import IndexStale, RecordsIndex
from experiments.views.records_query import RecordsView
from tests.tui_fixtures import make_run, sample_records

DOMAINS = ("math", "gsm8k", "mmlu", "gpqa")


def synthetic(n: int, start: int = 0) -> list[dict]:
    """Small records of every kind of verdict: rule, judge on every fourth, tokens, four domains."""
    rng = np.random.default_rng(start)
    out = []
    for i in range(start, start + n):
        domain = DOMAINS[i % 4]
        right = bool(rng.random() < 0.4)
        record = {"example_id": f"{domain}-test-{i // 4:06d}", "sample_idx": i % 4, "domain": domain,
                  "question": f"Question {i // 4}: what is {i // 4} plus one?", "model": "m",
                  "response": f"Step one. Step two gives {i + (0 if right else 7)}.\n#### {i}",
                  "gold": [str(i)] if i % 97 == 0 else str(i), "correct": right, "grade_status": "ok",
                  "confidence_token": f"<{'CN' if right else 'UN'}_{domain.upper()}>"}
        if i % 4 == 0:
            record.update(judge_correct=right if i % 8 else not right, judge_status="ok")
        out.append(record)
    return out


def brute(records: list[dict], query: str) -> list[int]:
    q = query.lower()
    return [i for i, r in enumerate(records) if any(q in str(r.get(k) or "").lower()
                                                    for k in ("example_id", "question", "response"))]


def test_pages_counts_filters_and_search_match_brute_force(tmp_path: Path) -> None:
    """20,000 records in 40 chunks: what the Records screen asks for, checked against the records themselves."""
    records = synthetic(20_000)
    store = make_run(tmp_path, "tagging-big", stage="tagging", records=records, chunk_size=500)
    records = list(store.iter_records())  # chunk by chunk, as the index rows are
    t = time.perf_counter()
    index = RecordsIndex.open(store)
    built = time.perf_counter() - t
    t = time.perf_counter()
    view = RecordsView(RecordsIndex.open(store))
    opened = time.perf_counter() - t
    assert index.count == len(records) and opened < max(1.0, built)  # read back, not rebuilt
    assert "question" not in view.index.light.column_names  # the text is never loaded whole
    for start in (0, 7_777, 19_990):
        assert view.select().next_rows(start + 10)[start:].tolist() == list(range(start, min(start + 10, 20_000)))
        assert index.records(range(start, min(start + 10, 20_000))) == records[start:start + 10]
    counts = view.counts()
    assert counts["correct"] == sum(r["correct"] for r in records) and counts["ungraded"] == 0
    assert counts["disagree"] == sum(1 for r in records if r.get("judge_correct") not in (None, r["correct"]))
    math = view.select(domain="math", token="<CN_MATH>")
    assert math.count == sum(1 for r in records if r["domain"] == "math" and r["correct"])
    assert all(r["confidence_token"] == "<CN_MATH>" for r in math.next_page(50))
    for query in ("QUESTION 1234:", "gives 1999", "gpqa-test-000012", "one?step", "zzz"):
        assert view.select(query=query).rows().tolist() == brute(records, query), query
    found = view.select("correct", query="question 12")
    assert found.rows().tolist() == [i for i in brute(records, "question 12") if records[i]["correct"]]


def test_odd_values_blank_lines_and_the_records_they_came_from(tmp_path: Path) -> None:
    store = make_run(tmp_path, "inference-odd", records=sample_records(3, graded=False))
    odd = [{"example_id": 17, "sample_idx": 0, "question": ["a", "list"], "response": {"text": "Nested"},
            "correct": 1, "judge_confidence": "high"},
           {"example_id": "plain", "sample_idx": 2, "response": "ok\u2028still one line", "domain": None}]
    store.chunk_path(5).write_text("\n" + json.dumps(odd[0]) + "\n   \n" + json.dumps(odd[1]) + "\n")
    index = RecordsIndex.open(store)
    assert index.count == 5 and index.key(3) == ("17", 0) and index.key(4) == ("plain", 2)
    assert index.records([3, 4]) == odd
    view = RecordsView(index)
    assert view.rule[3] == 1 and view.select(query="nested").rows().tolist() == [3]
    assert view.select(query="still one").rows().tolist() == [4]


def test_only_changed_chunks_are_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from experiments.views import index_build

    store = make_run(tmp_path, "inference-live", status="running", records=synthetic(40), chunk_size=10)
    index = RecordsIndex.open(store)
    assert index.refresh() is index  # nothing changed: the same index, nothing read
    parsed: list[int] = []
    real = index_build.parse_chunk
    monkeypatch.setattr(index_build, "parse_chunk", lambda path, n: parsed.append(n) or real(path, n))
    store.write_chunk(4, synthetic(10, 40))
    grown = index.refresh()
    assert parsed == [4] and grown.count == 50 and len(grown.segments) == 2
    store.write_chunk(7, synthetic(10, 70))
    store.write_chunk(5, synthetic(10, 50))
    later = grown.refresh()  # chunks 5 and 7: one new segment, chunk 6 missing inside it
    assert parsed == [4, 5, 7] and [len(s.chunks) for s in later.segments] == [4, 1, 2]
    store.write_chunk(6, synthetic(10, 60))  # data-parallel workers finish out of order
    later = later.refresh()  # the segment 5..7 lacks 6: rebuilt, rows stay in chunk order
    assert parsed == [4, 5, 7, 5, 6, 7] and [len(s.chunks) for s in later.segments] == [4, 1, 3]
    in_order = list(store.iter_records())
    assert later.records(range(later.count)) == in_order
    assert RecordsView(later).select(query="question 1").rows().tolist() == brute(in_order, "question 1")
    store.clear_chunks()  # a force-resume: the old index must not be used
    store.write_chunk(0, synthetic(3, 900))
    with pytest.raises(IndexStale):
        later.records([0])
    fresh = later.refresh()
    assert fresh.count == 3 and fresh.records([0])[0]["example_id"] == store.records()[0]["example_id"]
    assert sorted(p.name for p in (store.dir / "index").iterdir()) == \
        ["records.arrow", "text-00000-00000.bin", "text-00000-00000.npy"]  # stale segments removed


def test_a_read_only_run_folder_keeps_the_index_in_memory(tmp_path: Path) -> None:
    store = make_run(tmp_path, "grading-ro", stage="grading", records=sample_records(9), chunk_size=4)
    (store.dir / "index").write_text("not a folder")  # any OSError while writing the index
    index = RecordsIndex.open(RunStore(store.dir))
    assert index.count == 9 and all(seg.data is not None for seg in index.segments)
    view = RecordsView(index)
    assert view.select(query="question 4").rows().tolist() == [4] and view.counts()["correct"] == 3


def test_readers_fill_an_inference_runs_verdicts_in_any_order(tmp_path: Path) -> None:
    """An inference run's view joined with a grading reader whose records come in another order and miss some:
    verdicts, tokens, counts and whole records are the reader's where it has the record, empty where not."""
    from experiments.views.records_query import join_rows

    graded = synthetic(60)
    answers = [{k: v for k, v in r.items() if k not in ("correct", "grade_status", "judge_correct",
                                                         "judge_status", "confidence_token")} for r in graded]
    mine = make_run(tmp_path, "inference-join", records=answers, chunk_size=16)
    reader_records = list(reversed(graded[:50]))  # the last ten are not graded yet
    reader = make_run(tmp_path, "tagging-join", stage="tagging", records=reader_records, chunk_size=7)
    index, theirs = RecordsIndex.open(mine), RecordsIndex.open(reader)
    rows = join_rows(index, theirs)
    keys = [(r["example_id"], r["sample_idx"]) for r in reader.iter_records()]
    graded_keys = {(r["example_id"], r["sample_idx"]): r for r in graded[:50]}
    in_order = [graded_keys.get((r["example_id"], r["sample_idx"])) for r in mine.iter_records()]
    assert [keys[j] if j >= 0 else None for j in rows.tolist()] == \
        [(r["example_id"], r["sample_idx"]) if r else None for r in in_order]
    view = RecordsView(index, readers=[theirs])
    counts = view.counts()
    assert counts["correct"] == sum(r["correct"] for r in graded[:50]) and counts["ungraded"] == 10
    assert view.values("confidence_token") == sorted({r["confidence_token"] for r in graded[:50]})
    page = view.select().next_page(60)
    assert [r.get("correct") for r in page] == [r["correct"] if r else None for r in in_order]
    assert [r.get("confidence_token") for r in page] == [r["confidence_token"] if r else None for r in in_order]
    assert [r["response"] for r in page] == [r["response"] for r in mine.iter_records()]
    assert RecordsView(index).counts()["ungraded"] == 60  # without the reader: answers only


def test_the_worker_that_finishes_a_run_builds_its_index(tmp_path: Path) -> None:
    """A done run's index is ready before anyone opens it (the console's first open of a million records is then
    a memory map, not a 9 s build): the worker that finalizes the run builds it before marking it done."""
    from experiments.runs.worker import run_worker
    from experiments.specs import spec_to_toml
    from experiments.stages import STAGES
    from experiments.stages.grading.spec import GradingSpec

    answers = [{k: v for k, v in r.items() if k not in ("correct", "grade_status", "judge_correct", "judge_status",
                                                       "confidence_token")} for r in synthetic(24)]
    make_run(tmp_path, "inference-src", records=answers, chunk_size=8)
    store = RunStore.create(spec_to_toml(GradingSpec(input_run="inference-src", workers=1)), "grading", tmp_path,
                            run_id="grading-indexed")
    assert run_worker(store.dir, STAGES, home=tmp_path) == 0, store.manifest().get("error")
    assert store.manifest()["status"] == "done"
    built = (store.dir / "index" / "records.arrow").stat().st_mtime_ns
    assert built / 1e9 <= store.manifest()["finished"] + 0.01  # there by the time the run reads done
    index = RecordsIndex.open(store)
    assert index.count == 24 and index.fresh()
    assert (store.dir / "index" / "records.arrow").stat().st_mtime_ns == built  # opened, not rebuilt
