"""Read-only views over a run's records: verdicts, filters, table cells and the detail pane.

Plain Python, no Textual. Records are streamed chunk by chunk, so a huge run is never loaded whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from experiments.runs.store import RunStore
from experiments.views.runs import clip

VERDICTS = ("all", "correct", "incorrect", "ungraded")
PREVIEW = 60


def verdict_source(record: dict[str, Any]) -> str | None:
    """Whose verdict a record carries: the rule grader's (`correct`) when there is one, else the LLM judge's
    (`judge_correct`: a judging run over an ungraded inference run), else none."""
    if record.get("correct") is not None:
        return str(record.get("verdict_source") or "rule")
    if record.get("judge_correct") is not None:
        return "judge"
    return None


def verdict(record: dict[str, Any]) -> str:
    source = verdict_source(record)
    if source is None:
        return "ungraded"
    correct = record.get("correct") if record.get("correct") is not None else record.get("judge_correct")
    return "correct" if correct else "incorrect"


VERDICT_MARKS = {"correct": "✓", "incorrect": "✗", "ungraded": "?"}


def matches(record: dict[str, Any], which: str = "all", query: str = "") -> bool:
    """Verdict filter plus a case-insensitive search in example id, question and response."""
    if which != "all" and verdict(record) != which:
        return False
    if query:
        q = query.casefold()
        hay = (str(record.get("example_id", "")), str(record.get("question", "")),
               str(record.get("response", "")))
        return any(q in h.casefold() for h in hay)
    return True


def iter_matching(store: RunStore, which: str = "all", query: str = "") -> Iterator[dict[str, Any]]:
    """Matching records, read one chunk at a time (in chunk order, record order within a chunk)."""
    if which not in VERDICTS:
        raise ValueError(f"unknown filter {which!r}; one of {', '.join(VERDICTS)}")
    for index in store.done_chunks():
        try:
            chunk = store.read_chunk(index)
        except FileNotFoundError:  # cleared by a force-resume while we read
            continue
        for record in chunk:
            if matches(record, which, query):
                yield record


def preview(text: Any, width: int = PREVIEW) -> str:
    return clip(" ".join(str(text or "").split()), width)


RECORD_COLUMNS = ("example", "sample", "domain", "ok", "extracted", "gold", "token", "finish", "response")


def record_cells(record: dict[str, Any]) -> tuple[str, ...]:
    return (
        str(record.get("example_id", "")),
        str(record.get("sample_idx", 0)),
        str(record.get("domain", "")),
        VERDICT_MARKS[verdict(record)],
        preview(_extracted(record), 16),
        preview(record.get("gold"), 16),
        str(record.get("confidence_token") or ""),
        str(record.get("finish_reason") or ""),
        preview(record.get("response")),
    )


def review_line(review: Any) -> str:
    """A human review for the detail pane: verdict, who, when (UTC), the verdict it replaced, the note."""
    from datetime import datetime, timezone

    if review is None or not review.decided:
        return ""
    parts = [{"wrong": "incorrect"}.get(review.verdict, review.verdict)]
    if review.who:
        parts.append(f"by {review.who}")
    if review.ts:
        parts.append(datetime.fromtimestamp(review.ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    if review.previous and review.previous.get("verdict"):
        parts.append(f"was {review.previous['verdict']}")
    line = " · ".join(parts)
    return f"{line}\nnote: {review.note}" if review.note else line


def record_sections(record: dict[str, Any], review: Any = None) -> list[tuple[str, str]]:
    """The detail pane: (title, body) pairs, in reading order; absent fields left out. `review`: the record's
    human review (`experiments.reviews.store.Review`), if any."""
    sample = f" #{record.get('sample_idx', 0)}"
    head = f"{record.get('example_id', '')}{sample} · {record.get('domain', '')} · {record.get('model', '')}"
    verdict_line = verdict(record)
    if verdict_source(record) == "judge":
        verdict_line += " (judge)"
    elif record.get("grade_status"):
        verdict_line += f" ({record['grade_status']})"
    if record.get("grade_reason"):
        verdict_line += f": {record['grade_reason']}"
    judge_line = ""
    if record.get("judge_status"):
        judged = record.get("judge_correct")
        judge_line = "ungraded" if judged is None else "correct" if judged else "incorrect"
        judge_line += f" ({record['judge_status']})"
    tokens = [f"{k.split('_')[0]} {record[k]}" for k in ("prompt_tokens", "completion_tokens")
              if record.get(k) is not None]
    if record.get("finish_reason"):
        tokens.append(f"finish {record['finish_reason']}")
    sections = [
        ("record", head),
        ("question", str(record.get("question") or "")),
        ("response", str(record.get("response") or "")),
        ("gold", _text(record.get("gold"))),
        ("extracted", _text(_extracted(record))),
        ("verdict", verdict_line),
        ("judge verdict", judge_line),
        ("human verdict", review_line(review)),
        ("confidence token", str(record.get("confidence_token") or "")),
        ("judge reasoning", str(record.get("judge_reasoning") or "")),
        ("tokens", ", ".join(tokens)),
    ]
    return [(title, body) for title, body in sections if body]


def _extracted(record: dict[str, Any]) -> Any:
    """The rule grader's extracted answer, else the answer the judge read."""
    extracted = record.get("extracted")
    return extracted if extracted is not None else record.get("judge_model_answer")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)
