"""Pass rates: example id -> share of its n samples judged correct, from any graded, judged or reward run.

Columnar all the way: a grading run's `outputs/verdicts.parquet` (written at finalize) is scanned for four
columns; any other run is streamed chunk by chunk with pyarrow's JSON reader, only the needed fields kept. Each
batch is reduced with run lengths (a chunk holds every sample of its examples, sorted by example id), so a
million questions x 16 samples never become Python objects. A sample without a verdict (judge `invalid_json`,
reward missing, not reviewed under `human`) counts in `n` but not in `graded`; rate = correct / graded (NaN when
nothing was graded). `human` and `best` fold in the run's reviews (`experiments.reviews.policy`). The result is
cached in the run's `outputs/passrates.parquet`, keyed by the verdict options, the chunk files and the reviews.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from experiments.runs.store import RunStore

VERDICTS_FILE = "verdicts.parquet"
CACHE_FILE = "passrates.parquet"
RATE_COLUMNS = ("example_id", "index", "source", "model", "n", "graded", "correct", "rate")


@dataclass(frozen=True)
class VerdictOptions:
    """Which verdict makes a sample correct (see CurationSpec.verdict)."""

    verdict: str = "auto"
    reward_field: str = "reward"
    threshold: float = 1.0

    @classmethod
    def of(cls, spec: Any) -> VerdictOptions:
        return cls(spec.verdict, spec.reward_field, spec.correct_reward_threshold)


DEFAULT_OPTIONS = VerdictOptions()


def resolve_verdict(store: RunStore, verdict: str) -> str:
    """`auto` -> `rule` when the records carry a rule verdict, else `judge` (as tagging does)."""
    if verdict != "auto":
        return verdict
    chunks = store.done_chunks()
    if not chunks:
        raise ValueError(f"run {store.run_id} has no records yet")
    with store.chunk_path(chunks[0]).open("rb") as fh:
        first = json.loads(fh.readline() or b"{}")
    if "correct" in first:
        return "rule"
    if "judge_correct" in first:
        return "judge"
    raise ValueError(f"run {store.run_id} ({store.manifest().get('stage')}) has no verdicts: grade or judge it "
                     "first, or use verdict = \"reward\" with its reward_field")


def _chunk_signature(store: RunStore) -> list[list[Any]]:
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(store.chunks_dir.glob("chunk-*"))]


def _verdicts_fresh(store: RunStore) -> Path | None:
    path = store.outputs_dir / VERDICTS_FILE
    if not path.exists():
        return None
    newest = max((p.stat().st_mtime_ns for p in store.chunks_dir.glob("chunk-*")), default=0)
    return path if path.stat().st_mtime_ns >= newest else None


def verdict_batches(store: RunStore, opts: VerdictOptions) -> Iterator[Any]:
    """pyarrow tables (example_id, index, source, model, correct: bool or null), one per chunk or row group."""
    import pyarrow as pa

    kind = resolve_verdict(store, opts.verdict)
    fast = _verdicts_fresh(store) if kind == "rule" else None
    if fast is not None:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(fast, read_dictionary=["example_id", "source", "model"])
        for batch in pf.iter_batches(batch_size=1 << 20, columns=["example_id", "index", "source", "model",
                                                                   "correct"]):
            yield pa.Table.from_batches([batch])
        return
    reviews = policy_reviews(store, kind)
    for index in store.done_chunks():
        table = read_chunk_columns(store.chunk_path(index), [*KEY_FIELDS, *verdict_fields(kind, opts)])
        yield table.select([n for n, _ in KEY_FIELDS]).append_column("correct", chunk_verdict(table, kind, opts,
                                                                                               reviews))


POLICY_FIELDS = (("sample_idx", "int64"), ("correct", "bool"), ("rule_correct", "bool"),
                 ("verdict_source", "string"), ("judge_correct", "bool"), ("human_correct", "bool"))


def verdict_fields(kind: str, opts: VerdictOptions) -> list[tuple[str, str]]:
    """The record fields a verdict kind reads (beyond the keys)."""
    return [(opts.reward_field, "double")] if kind == "reward" else list(POLICY_FIELDS)


def policy_reviews(store: RunStore, kind: str) -> dict[Any, Any]:
    """The human reviews that apply to `store` when the verdict kind reads them (human, best), else none."""
    if kind not in ("human", "best"):
        return {}
    from experiments.reviews.lineage import lineage_reviews

    return lineage_reviews(store)


def chunk_verdict(table: Any, kind: str, opts: VerdictOptions, reviews: dict[Any, Any]) -> Any:
    """A nullable bool arrow array: each record's verdict under `kind` (a policy of `experiments.reviews.policy`,
    or reward >= threshold)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from experiments.reviews.policy import combine, human_array, table_verdicts

    if kind == "reward":
        return pc.greater_equal(table.column(opts.reward_field), pa.scalar(float(opts.threshold)))
    rule, judge, copied = table_verdicts(table)
    human = human_array(table.column("example_id"), table.column("sample_idx"), reviews)
    human = np.where(human >= 0, human, copied).astype(np.int8)
    verdict, _ = combine(kind, rule, judge, human)
    return pa.array(verdict == 1, mask=verdict < 0)


KEY_FIELDS = (("example_id", "string"), ("index", "int64"), ("source", "string"), ("model", "string"))


def read_chunk_columns(path: Path, fields: list[tuple[str, str]]) -> Any:
    """One JSONL chunk, only `fields` ((name, arrow type name) pairs); other fields are skipped by pyarrow's C++
    reader. Odd values (an id written as a number) fall back to a tolerant line-by-line read."""
    import pyarrow as pa
    from pyarrow import json as pj

    schema = pa.schema([(name, pa.type_for_alias(kind)) for name, kind in fields])
    try:
        opts = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        table = pj.read_json(path, parse_options=opts, read_options=pj.ReadOptions(block_size=1 << 24))
    except (pa.ArrowInvalid, OSError):
        table = _read_tolerant(path, schema)
    if table.num_rows and "example_id" in schema.names and table.column("example_id").null_count:
        raise ValueError(f"{path}: records without example_id")
    return table.select(schema.names)


def _read_tolerant(path: Path, schema: Any) -> Any:
    import pyarrow as pa

    cast = {f.name: (str if pa.types.is_string(f.type) else None) for f in schema}
    rows = []
    with path.open("r", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                rows.append({k: (c(r[k]) if c and r.get(k) is not None else r.get(k)) for k, c in cast.items()})
    return pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()


def reduce_batch(table: Any) -> Any:
    """Per-example partial counts of one batch: run lengths over the (sorted) example ids, all numpy."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = table.column("example_id").combine_chunks()
    if not pa.types.is_dictionary(ids.type):
        ids = pc.dictionary_encode(ids)
    codes = ids.indices.to_numpy(zero_copy_only=False)
    starts = np.concatenate(([0], np.flatnonzero(codes[1:] != codes[:-1]) + 1)) if len(codes) else codes[:0]
    verdict = table.column("correct").combine_chunks()
    valid = verdict.is_valid().to_numpy(zero_copy_only=False).astype(np.int32)
    right = pc.fill_null(verdict, False).to_numpy(zero_copy_only=False).astype(np.int32) & valid
    pick = pa.array(starts)
    out = {"example_id": ids.take(pick).cast(pa.string())}
    for name in ("index", "source", "model"):
        col = table.column(name).combine_chunks().take(pick)
        out[name] = col.cast(pa.string()) if pa.types.is_dictionary(col.type) else col
    out["n"] = np.diff(np.append(starts, len(codes))).astype(np.int32)
    out["graded"] = np.add.reduceat(valid, starts).astype(np.int32) if len(codes) else out["n"]
    out["correct"] = np.add.reduceat(right, starts).astype(np.int32) if len(codes) else out["n"]
    return pa.table(out)


def combine_partials(parts: list[Any]) -> Any:
    """One row per example; examples split across batches (unsorted input) are summed."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.concat_tables(parts) if parts else reduce_batch(_empty())
    if pc.count_distinct(table.column("example_id")).as_py() < table.num_rows:
        table = table.group_by("example_id", use_threads=False).aggregate(
            [("index", "first"), ("source", "first"), ("model", "first"),
             ("n", "sum"), ("graded", "sum"), ("correct", "sum")])
        table = table.rename_columns(["example_id", "index", "source", "model", "n", "graded", "correct"])
    graded = table.column("graded").to_numpy(zero_copy_only=False).astype(np.float64)
    right = table.column("correct").to_numpy(zero_copy_only=False).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(graded > 0, right / np.maximum(graded, 1), np.nan)
    table = table.append_column("rate", pa.array(rate))
    return table.select(list(RATE_COLUMNS))


def _empty() -> Any:
    import pyarrow as pa

    return pa.table({"example_id": pa.array([], pa.string()), "index": pa.array([], pa.int64()),
                     "source": pa.array([], pa.string()), "model": pa.array([], pa.string()),
                     "correct": pa.array([], pa.bool_())})


def compute_passrates(store: RunStore, opts: VerdictOptions = DEFAULT_OPTIONS) -> Any:
    """A pyarrow table (RATE_COLUMNS), one row per example, in the run's chunk order."""
    return combine_partials([reduce_batch(b) for b in verdict_batches(store, opts)])


def load_passrates(store: RunStore, opts: VerdictOptions = DEFAULT_OPTIONS, write: bool = True) -> Any:
    """Pass rates of a run, from its `outputs/passrates.parquet` when that was computed from these very chunks
    with these options; else computed (and cached when `write`)."""
    import pyarrow.parquet as pq

    from experiments.reviews.lineage import reviews_signature

    reviews = reviews_signature(store) if opts.verdict in ("human", "best") else []
    key = json.dumps({"opts": asdict(opts), "chunks": _chunk_signature(store), "reviews": reviews}, sort_keys=True)
    path = store.outputs_dir / CACHE_FILE
    if path.exists():
        cached = pq.read_table(path)
        if (cached.schema.metadata or {}).get(b"confconsole.key", b"").decode() == key:
            return cached.replace_schema_metadata(None)
    table = compute_passrates(store, opts)
    if write:
        try:
            write_parquet(table.replace_schema_metadata({"confconsole.key": key}), path)
        except OSError:  # a read-only run folder: the rates are still right, only not cached
            pass
    return table


def write_parquet(table: Any, path: Path) -> Path:
    """Atomic: a reader never sees half a file."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path


def idx_to_passrate(rates: Any) -> dict[str, float]:
    """The reference's `idx_to_passrate.json`: {"<row index in the source file>": rate}; ungraded rows left out."""
    index = rates.column("index").to_pylist()
    rate = rates.column("rate").to_pylist()
    return {str(i): float(r) for i, r in zip(index, rate, strict=True) if i is not None and r == r}
