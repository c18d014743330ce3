"""Teacher-forced statistics for any finished answer (guided, or an inference run's response).

The base model re-reads prompt + answer once; each of its tokens gets the source (base/oracle) of the segment its
first character came from, so a run served by any engine gets the same per-position analysis as an hf run.
"""

from __future__ import annotations

from typing import Any


def teacher_analysis(session: Any, messages: Any, segments: list[dict[str, str]]) -> list[dict[str, Any]]:
    from backends.guided.teacher import teacher_forced_stats

    answer = "".join(s["text"] for s in segments)
    rows = teacher_forced_stats(session, messages, answer)
    bounds, end = [], 0
    for seg in segments:
        end += len(seg["text"])
        bounds.append((end, seg["source"]))
    for row in rows:
        offset = row.pop("offset")
        row["source"] = next((src for stop, src in bounds if offset < stop), bounds[-1][1] if bounds else "base")
    return rows


def run_stats(run: str, home: Any = None, model: str | None = None, attention: bool = False,
              limit: int | None = None) -> Any:
    """Teacher-forced statistics over a run's answers (guided `result` or inference `response`) into
    outputs/stats.jsonl: one line per record with its ids and `analysis_result`."""
    import json

    from backends.guided.hf_session import HFSession
    from experiments.runs.store import RunStore

    store = RunStore.open(run, home)
    records = store.records()[:limit] if limit else store.records()
    if not records:
        raise ValueError(f"run {store.run_id} has no records yet")
    name = model or records[0].get("base_model_id") or records[0].get("model") or "smollm2-135m"
    session = HFSession(name, attention_stats=attention)
    out = store.output_path("stats.jsonl")
    with out.open("w", encoding="utf-8") as fh:
        for r in records:
            segments = r.get("interleaved_outputs") or [{"text": r.get("response", ""), "source": "base"}]
            messages = [{"role": "user", "content": r.get("prompt", "")}]
            row = {"example_id": r.get("example_id"), "sample_idx": r.get("sample_idx"), "c": r.get("c"),
                   "k": r.get("k"), "model": name, "analysis_result": teacher_analysis(session, messages, segments)}
            fh.write(json.dumps(row) + "\n")
    return out
