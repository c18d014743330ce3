"""`outputs/verdicts.parquet`: the compact verdict table of a grading run, written at finalize.

One row per record with only what pass rates need (example_id, index, sample_idx, source, model, correct), so
curation scans four narrow columns instead of re-parsing every JSONL chunk with its responses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.runs.store import RunStore

VERDICT_COLUMNS = ("example_id", "index", "sample_idx", "source", "model", "correct")


def write_verdicts(store: RunStore, records: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("example_id", pa.string()), ("index", pa.int64()), ("sample_idx", pa.int32()),
                        ("source", pa.string()), ("model", pa.string()), ("correct", pa.bool_())])
    columns = {name: [r.get(name) for r in records] for name in VERDICT_COLUMNS}
    columns["example_id"] = [str(v) for v in columns["example_id"]]
    table = pa.table(columns, schema=schema)
    path = store.output_path("verdicts.parquet")
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path
