"""Domain sampling: prompts from several parquet files, over-long ones dropped, then a seeded sample per domain.

A file is a domain (its name without suffix) unless `domain_column` names a column. Token counts come from a
callable (the CLI and stage pass backends' `count_tokens` with the chosen tokenizer), so this module stays pure.
The sample is `target_per_domain` rows drawn without replacement by a generator seeded with (seed, crc32 of the
domain), kept in file order: the same files and seed give the same rows whatever else is sampled.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CountTokens = Callable[[list[Any]], list[int]]


def read_domains(files: list[str], domain_column: str = "") -> Any:
    """All files as one pyarrow table with a `domain` column (and `source_file`, `source_row`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for name in files:
        path = Path(name)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        table = pq.read_table(path)
        if domain_column:
            if domain_column not in table.column_names:
                raise ValueError(f"{path}: no column {domain_column!r} (columns: {', '.join(table.column_names)})")
            domain = table.column(domain_column).cast(pa.string())
        else:
            domain = pa.array([path.stem] * table.num_rows, pa.string())
        table = table.drop_columns([c for c in ("domain", "source_file", "source_row") if c in table.column_names])
        table = table.append_column("domain", domain)
        table = table.append_column("source_file", pa.array([str(path)] * table.num_rows, pa.string()))
        tables.append(table.append_column("source_row", pa.array(np.arange(table.num_rows, dtype=np.int64))))
    try:
        return pa.concat_tables(tables, promote_options="default")
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise ValueError(f"the files' columns don't line up ({exc}); give files of one schema") from None


def seeded_pick(n: int, k: int, seed: int, domain: str) -> np.ndarray:
    """k of n positions, sorted; all of them when k >= n."""
    if k >= n:
        return np.arange(n)
    rng = np.random.default_rng([seed, zlib.crc32(domain.encode())])
    return np.sort(rng.choice(n, size=k, replace=False))


def sample_domains(table: Any, prompt_column: str, count_tokens: CountTokens | None, max_prompt_tokens: int | None,
                   target_per_domain: int | None, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """(sampled table, report: per domain rows, dropped as too long (with examples), kept, sampled, shortfall)."""
    import pyarrow as pa

    if prompt_column not in table.column_names:
        raise ValueError(f"no prompt column {prompt_column!r} (columns: {', '.join(table.column_names)})")
    domains = np.asarray(table.column("domain").to_pylist(), dtype=object)
    too_long = np.zeros(table.num_rows, dtype=bool)
    tokens = None
    if max_prompt_tokens is not None and count_tokens is not None:
        tokens = np.asarray(count_tokens(table.column(prompt_column).to_pylist()), dtype=np.int64)
        too_long = tokens > max_prompt_tokens
    report: dict[str, Any] = {"max_prompt_tokens": max_prompt_tokens, "target_per_domain": target_per_domain,
                              "seed": seed, "domains": {}}
    picked: list[np.ndarray] = []
    for domain in dict.fromkeys(domains.tolist()):
        rows = np.flatnonzero(domains == domain)
        fits = rows[~too_long[rows]]
        chosen = fits[seeded_pick(len(fits), target_per_domain or len(fits), seed, str(domain))]
        picked.append(chosen)
        long_rows = rows[too_long[rows]]
        report["domains"][str(domain)] = {
            "rows": len(rows), "dropped_too_long": len(long_rows), "kept_after_length": len(fits),
            "sampled": len(chosen), "shortfall": max(0, (target_per_domain or 0) - len(chosen)),
            "dropped_examples": [{"source_row": int(table.column("source_row")[int(i)].as_py()),
                                  "tokens": int(tokens[i]) if tokens is not None else None}
                                 for i in long_rows[:20]]}
    order = np.concatenate(picked) if picked else np.zeros(0, np.int64)
    out = table.take(pa.array(order))
    if tokens is not None:
        out = out.append_column("prompt_tokens", pa.array(tokens[order]))
    report["rows"] = table.num_rows
    report["dropped_too_long"] = int(too_long.sum())
    report["sampled"] = out.num_rows
    return out, report
