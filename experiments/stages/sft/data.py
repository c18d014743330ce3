"""SFT rows for the trainer: from tagging runs (the `sft-data` export's rows) or a file, as chat prompt/completion.

Every row becomes `{"prompt": [messages...], "completion": [{"role": "assistant", ...}]}` (TRL's conversational
prompt-completion shape, so the loss covers the assistant answer and its token only). Accepted file rows:
`prompt`/`completion` (strings or message lists), `messages` (the last one is the assistant's), or the export's
`input`/`output`. Bad rows are reported, never fatal. The validation split is a seeded shuffle, so a resumed run
trains on exactly the same rows.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# <CN_MATH>/<UN_MATH> (angle) or <|c_math|>/<|u_math|> (pipe), at the very end of an answer
TRAILING_TOKEN = re.compile(r"(<(?:CN|UN)_[A-Z0-9_]+>|<\|[cu]_[a-z0-9_]+\|>)\s*$")


@dataclass
class SFTData:
    rows: list[dict[str, Any]] = field(default_factory=list)  # {"id", "prompt", "completion", "token"}
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (item id, reason, detail)
    sources: dict[str, int] = field(default_factory=dict)


def _messages(value: Any, role: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m and "content" in m
                                                 for m in value):
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in value]
    raise ValueError(f"expected a string or a list of {{role, content}} messages, got {type(value).__name__}")


def normalize_row(row: dict[str, Any]) -> dict[str, Any]:
    """One file/export row -> {"prompt", "completion", "token"}; ValueError says what is wrong."""
    if "messages" in row:
        messages = _messages(row["messages"], "user")
        if len(messages) < 2 or messages[-1]["role"] != "assistant":
            raise ValueError("messages must end with an assistant message after at least one other message")
        prompt, completion = messages[:-1], messages[-1:]
    elif "prompt" in row and "completion" in row:
        prompt, completion = _messages(row["prompt"], "user"), _messages(row["completion"], "assistant")
    elif "input" in row and "output" in row:
        prompt, completion = _messages(row["input"], "user"), _messages(row["output"], "assistant")
    else:
        raise ValueError(f"no prompt/completion, messages or input/output columns (got {sorted(row)[:8]})")
    answer = completion[-1]["content"]
    if not answer.strip():
        raise ValueError("empty answer")
    match = TRAILING_TOKEN.search(answer)
    token = str(row.get("confidence_token") or (match.group(1) if match else ""))
    return {"prompt": prompt, "completion": completion, "token": token}


def from_tagging_runs(stores: list[Any], verdict: str = "tagged") -> SFTData:
    """The tagging runs' rows; `verdict` other than "tagged" re-derives each token from that verdict policy."""
    from experiments.stages.tagging.sft_data import sft_rows

    data = SFTData()
    for store in stores:
        rows, _dropped, missing = sft_rows(store, verdict)
        if missing:
            data.errors.append((store.run_id, "no_verdict", f"{missing} records have no {verdict} verdict"))
        data.sources[store.run_id] = len(rows)
        for row in rows:
            _add(data, f"{row['source_run']}:{row['example_id']}#{row['sample_idx']}", row)
    return data


def from_file(path: str | Path) -> SFTData:
    from experiments.datasets.files import iter_rows

    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"SFT data file {path} does not exist")
    data = SFTData(sources={str(path): 0})
    for index, row, error in iter_rows(path):
        if row is None:
            data.errors.append((f"row-{index}", "bad_row", error))
            continue
        _add(data, str(row.get("id") or row.get("example_id") or f"row-{index}"), row)
    data.sources[str(path)] = len(data.rows)
    return data


def _add(data: SFTData, item_id: str, row: dict[str, Any]) -> None:
    try:
        data.rows.append({"id": item_id, **normalize_row(row)})
    except ValueError as exc:
        data.errors.append((item_id, "bad_sft_row", str(exc)))


def tokens_of(rows: list[dict[str, Any]], explicit: list[str]) -> list[str]:
    """The tokens to add: the spec's, else every token seen in the data plus its right/wrong partner."""
    if explicit:
        return sorted(set(explicit))
    seen = {r["token"] for r in rows if r["token"]}
    partners = set()
    for token in seen:
        if token.startswith("<CN_") or token.startswith("<UN_"):
            partners.add(("<UN_" if token.startswith("<CN_") else "<CN_") + token[4:])
        elif token.startswith("<|c_") or token.startswith("<|u_"):
            partners.add(("<|u_" if token.startswith("<|c_") else "<|c_") + token[4:])
    return sorted(seen | partners)


def split(rows: list[dict[str, Any]], val_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, validation): a seeded shuffle; at least one training row, validation only when there are 2+ rows."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = round(len(rows) * val_fraction) if len(rows) > 1 else 0
    n_val = min(max(n_val, 1 if val_fraction > 0 and len(rows) > 1 else 0), len(rows) - 1)
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return [rows[i] for i in train], [rows[i] for i in val]


def trainer_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the columns TRL reads."""
    return [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
