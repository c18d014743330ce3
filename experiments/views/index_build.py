"""Building a run's records index (`experiments.views.records_index`) from its JSONL chunks.

Each chunk is parsed once with pyarrow's JSON reader (threads across chunks; a chunk with odd values falls back to
a tolerant line-by-line read), its line offsets found with numpy. The light columns of all records go to
`index/records.arrow` (Arrow IPC, memory-mapped on open; small, rewritten whenever the chunks change); the
lower-cased search text goes to segments `index/text-<first>-<last>.bin` (+ `.npy` row offsets), each covering a
run of consecutive chunks and written while the chunks are parsed, so a build never holds the text of the run. A
segment is kept while its chunks are unchanged: a running run that wrote three more chunks costs one small new
segment, and a force-resumed run starts over.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.runs.store import RunStore

INDEX_DIR, LIGHT_FILE = "index", "records.arrow"  # Arrow IPC, uncompressed: opened by memory map at once
VERSION = 2
LIGHT_FIELDS = (("example_id", "string"), ("sample_idx", "int64"), ("domain", "string"), ("model", "string"),
                ("correct", "bool"), ("rule_correct", "bool"), ("verdict_source", "string"),
                ("judge_correct", "bool"), ("judge_status", "string"), ("grade_status", "string"),
                ("confidence_token", "string"), ("finish_reason", "string"), ("judge_confidence", "double"),
                ("human_correct", "bool"))
TEXT_FIELDS = (("question", "string"), ("response", "string"))
PLACE = ("chunk", "offset", "length")
DICTIONARY = ["example_id", "domain", "model", "verdict_source", "judge_status", "grade_status",
              "confidence_token", "finish_reason"]
SEPARATOR = "\x1f"  # ends each field in the search text; stripped from queries
SEGMENT_BYTES = 256 << 20  # a new segment starts after this many bytes of chunks
MAX_SEGMENTS = 64  # more (a long-running run refreshed often): rebuild them all

Progress = Callable[[int, int], None]


def schema_of(fields: tuple[tuple[str, str], ...]) -> Any:
    import pyarrow as pa

    return pa.schema([(name, pa.type_for_alias(kind)) for name, kind in fields])


def line_spans(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of every non-blank line, found with numpy (no per-line Python)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if len(buf) and buf[-1] != 10:
        ends = np.append(ends, len(buf))
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64) if len(ends) else ends.astype(np.int64)
    lengths = (ends - starts).astype(np.int64)
    keep = lengths > 0
    for i in np.flatnonzero(keep & (lengths < 8)):  # a line of spaces / CR only is blank too
        keep[i] = bool(data[starts[i]:starts[i] + lengths[i]].strip())
    return starts[keep], lengths[keep]


def parse_chunk(path: Path, chunk: int) -> Any:
    """One chunk -> an arrow table of LIGHT_FIELDS + TEXT_FIELDS + PLACE (where each line is)."""
    import pyarrow as pa
    from pyarrow import json as pj

    data = path.read_bytes()
    starts, lengths = line_spans(data)
    schema = schema_of(LIGHT_FIELDS + TEXT_FIELDS)
    try:  # from the path: arrow reads it in blocks on its own threads (faster than handing it our bytes)
        table = pj.read_json(path, read_options=pj.ReadOptions(block_size=1 << 20),
                             parse_options=pj.ParseOptions(explicit_schema=schema,
                                                           unexpected_field_behavior="ignore"))
        if table.num_rows != len(starts):
            raise ValueError("line count differs")
        table = table.select(schema.names)
    except (pa.ArrowInvalid, ValueError):  # odd values (a number as an id, a list as a response): slow and sure
        table = _parse_tolerant(data, starts, lengths, schema)
    place = {"chunk": pa.array(np.full(len(starts), chunk, dtype=np.int32)), "offset": pa.array(starts),
             "length": pa.array(lengths.astype(np.int32))}
    for name, column in place.items():
        table = table.append_column(name, column)
    return table


def _parse_tolerant(data: bytes, starts: np.ndarray, lengths: np.ndarray, schema: Any) -> Any:
    import pyarrow as pa

    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
        try:
            record = json.loads(data[start:start + length])
        except ValueError:
            record = {}
        record = record if isinstance(record, dict) else {}
        for f in schema:
            columns[f.name].append(_coerce(record.get(f.name), f.type))
    return pa.table({f.name: pa.array(columns[f.name], f.type) for f in schema})


def _coerce(value: Any, kind: Any) -> Any:
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_string(kind):
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if pa.types.is_boolean(kind):
        return bool(value)
    if pa.types.is_integer(kind):
        return int(value) if isinstance(value, int | float) else 0
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def chunk_signature(store: RunStore) -> list[list[Any]]:
    """[chunk number, size, mtime_ns] of every chunk file: what an index is keyed by."""
    out = []
    try:
        entries = list(os.scandir(store.chunks_dir))
    except FileNotFoundError:
        return out
    for entry in entries:
        name = entry.name
        if not (name.startswith("chunk-") and name.endswith(".jsonl")):
            continue
        try:
            stat = entry.stat()
        except FileNotFoundError:  # removed by a force-resume while we listed
            continue
        out.append([int(name[6:-6]), stat.st_size, stat.st_mtime_ns])
    return sorted(out)


@dataclass
class Segment:
    """The search text of consecutive chunks: `<file>.bin` (each record's lower-cased id, question and
    response, each followed by the unit separator 0x1f, back to back) and `<file>.npy` (row start offsets, then
    the end). `data` / `offsets` hold them instead when the run folder is read-only."""

    chunks: list[list[Any]]  # their signatures
    rows: int = 0
    file: str = ""
    data: Any = None
    offsets: Any = None

    def describe(self) -> dict[str, Any]:
        return {"file": self.file, "chunks": self.chunks, "rows": self.rows}


def index_key(signature: list[list[Any]]) -> str:
    return json.dumps({"v": VERSION, "chunks": signature})


def haystack(table: Any) -> Any:
    """One lower-cased string per record: example id, question, response, each ended by SEPARATOR (a character a
    query never holds, so a match cannot span two fields or two records)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = [pc.utf8_lower(pc.cast(table.column(name), pa.string())) for name in ("example_id", "question",
                                                                                  "response")]
    joined = pc.binary_join_element_wise(*parts, pa.scalar("", pa.string()), SEPARATOR, null_handling="replace",
                                         null_replacement="")
    return pc.cast(joined, pa.large_string()).combine_chunks()



class SegmentWriter:
    """Appends chunks' haystacks to one segment, to its files or (folder None) to memory."""

    def __init__(self, folder: Path | None, chunks: list[list[Any]]) -> None:
        self.segment = Segment(chunks=chunks, file=f"text-{chunks[0][0]:05d}-{chunks[-1][0]:05d}")
        self.folder = folder
        self.starts: list[np.ndarray] = []
        self.size = 0
        self.parts: list[bytes] = []
        self._tmp = folder / f".{self.segment.file}.{_tag()}.tmp" if folder else None
        self._fh = open(self._tmp, "wb") if self._tmp else None

    def add(self, text: Any) -> None:
        offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[text.offset:text.offset + len(text) + 1]
        data = text.buffers()[2]
        body = memoryview(data)[offsets[0]:offsets[-1]] if data is not None else b""
        self.starts.append(offsets[:-1] - offsets[0] + self.size)
        if self._fh is not None:
            self._fh.write(body)
        else:
            self.parts.append(bytes(body))
        self.size += int(offsets[-1] - offsets[0])
        self.segment.rows += len(text)

    def close(self) -> Segment:
        offsets = np.concatenate([*self.starts, [self.size]]).astype(np.int64)
        if self._fh is None:
            self.segment.data, self.segment.offsets = b"".join(self.parts), offsets
            return self.segment
        assert self.folder is not None
        self._fh.close()
        tmp = self.folder / f".{self.segment.file}.{_tag()}.npy"
        np.save(tmp, offsets)
        tmp.replace(self.folder / f"{self.segment.file}.npy")
        assert self._tmp is not None
        self._tmp.replace(self.folder / f"{self.segment.file}.bin")
        return self.segment


def build(store: RunStore, signature: list[list[Any]], old: dict[str, Any] | None, progress: Progress | None,
          workers: int | None = None) -> tuple[Any, list[Segment]]:
    """(light table sorted by chunk and line, segments in chunk order), reusing `old` (the previous index's
    metadata: its segments) where its chunks are unchanged. Search text is written as chunks are parsed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    folder: Path | None = store.dir / INDEX_DIR
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        folder = None  # a read-only run folder: everything stays in memory
    current = {int(s[0]): s for s in signature}
    kept = [Segment(**s) for s in (old or {}).get("segments", [])
            if folder and all(current.get(int(c[0])) == c for c in s["chunks"])
            and (folder / f"{s['file']}.bin").exists() and (folder / f"{s['file']}.npy").exists()]
    kept = _drop_overlapping(kept, sorted(current)) if len(kept) < MAX_SEGMENTS else []
    covered = {int(c[0]) for seg in kept for c in seg.chunks}
    todo = [n for n in sorted(current) if n not in covered]
    group_of = {n: i for i, group in enumerate(_groups(todo, kept, current)) for n in group}
    light_names = [n for n, _ in LIGHT_FIELDS] + list(PLACE)
    lights, segments = [], list(kept)
    writer: SegmentWriter | None = None
    with ThreadPoolExecutor(workers or min(4, os.cpu_count() or 2)) as pool:
        parsed = _bounded_map(pool, lambda n: (n, parse_chunk(store.chunk_path(n), n)), todo)
        for done, (n, table) in enumerate(parsed, 1):
            if writer is None or group_of[n] != group_of[int(writer.segment.chunks[0][0])]:
                if writer is not None:
                    segments.append(writer.close())
                group = [c for c in todo if group_of[c] == group_of[n]]
                writer = SegmentWriter(folder, [current[c] for c in group])
            lights.append(encoded(table.select(light_names)))  # small from here on: the text is in the segment
            writer.add(haystack(table))
            if progress is not None:
                progress(done, len(todo))
    if writer is not None:
        segments.append(writer.close())
    if covered and old is not None and folder is not None:
        previous = read_light(folder / LIGHT_FILE)
        mask = pc.is_in(previous.column("chunk"), value_set=pa.array(sorted(covered), pa.int32()))
        lights.insert(0, encoded(previous.filter(mask).select(light_names)))
    light = pa.concat_tables(lights) if lights else encoded(empty_light())
    chunks = light.column("chunk").combine_chunks() if light.num_rows else None
    if chunks is not None and not pc.all(pc.greater_equal(chunks[1:], chunks[:-1])).as_py():
        light = light.take(pc.sort_indices(light, [("chunk", "ascending"), ("offset", "ascending")]))
    segments.sort(key=lambda seg: int(seg.chunks[0][0]))
    return light, segments


def _bounded_map(pool: ThreadPoolExecutor, fn: Callable[[int], Any], items: list[int]) -> Any:
    """`pool.map` in order, but with at most twice the pool's threads of results waiting: parsed chunks (their
    text included) never pile up while the consumer writes segments."""
    from collections import deque

    window = 2 * pool._max_workers
    pending: deque[Any] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _drop_overlapping(kept: list[Segment], chunks: list[int]) -> list[Segment]:
    """A segment whose range now holds a chunk it lacks (data-parallel workers finish out of order) is rebuilt:
    rows stay in chunk order across segments."""
    out = []
    for seg in kept:
        first, last = int(seg.chunks[0][0]), int(seg.chunks[-1][0])
        if sum(1 for n in chunks if first <= n <= last) == len(seg.chunks):
            out.append(seg)
    return out


def _groups(todo: list[int], kept: list[Segment], current: dict[int, list[Any]]) -> list[list[int]]:
    """Consecutive new chunks, split where a kept segment lies between them or a segment holds enough bytes."""
    bounds = sorted(int(s.chunks[0][0]) for s in kept)
    groups: list[list[int]] = []
    size = 0
    for n in todo:
        last = groups[-1][-1] if groups else None
        if last is None or size >= SEGMENT_BYTES or any(last < a <= n for a in bounds):
            groups.append([])
            size = 0
        groups[-1].append(n)
        size += int(current[n][1])
    return groups


def write(store: RunStore, light: Any, segments: list[Segment], key: str) -> None:
    """The light file (which names the segments and carries the key) last; then stale segment files go."""
    import pyarrow as pa

    folder = store.dir / INDEX_DIR
    meta = {"confconsole.key": key, "confconsole.segments": json.dumps([s.describe() for s in segments])}
    table = dictionaries(light).combine_chunks().replace_schema_metadata(meta)  # one batch: one dictionary each
    tmp = folder / f".{LIGHT_FILE}.{_tag()}.tmp"
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=1 << 22)
    tmp.replace(folder / LIGHT_FILE)
    names = {seg.file for seg in segments}
    for path in [*folder.glob("text-*.bin"), *folder.glob("text-*.npy"), *folder.glob("records.parquet")]:
        if path.stem not in names:
            path.unlink(missing_ok=True)


def read_light(path: Path) -> Any:
    """The light table, memory-mapped: its pages are read as they are used. `write` stores one batch, so every
    dictionary is already one; an older or foreign file is unified here."""
    import pyarrow as pa

    table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    return table if all(column.num_chunks <= 1 for column in table.columns) else dictionaries(table)


def light_metadata(path: Path) -> dict[bytes, bytes]:
    import pyarrow as pa

    return pa.ipc.open_file(pa.memory_map(str(path))).schema.metadata or {}


def _tag() -> str:
    """A temporary file's tag: two builders (processes or threads) never share a temporary file."""
    return f"{os.getpid()}-{threading.get_ident()}"


def encoded(table: Any) -> Any:
    """The DICTIONARY columns dictionary-encoded (a chunk's own dictionary), so a million rows of light columns stay
    small while a build collects them; `dictionaries` unifies them at the end."""
    import pyarrow as pa
    import pyarrow.compute as pc

    target = pa.dictionary(pa.int32(), pa.string())
    for name in DICTIONARY:
        i = table.schema.get_field_index(name)
        column = table.column(i)
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column.cast(pa.string()))
        table = table.set_column(i, name, column.cast(target))
    return table


def dictionaries(table: Any) -> Any:
    """One dictionary per column across the whole table (codes comparable between rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in DICTIONARY:
        column = table.column(name)
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        if column.num_chunks > 1:
            column = column.unify_dictionaries()
        combined = column.combine_chunks() if column.num_chunks else pa.array([], column.type)
        table = table.set_column(table.schema.get_field_index(name), name, pa.chunked_array([combined]))
    return table


def empty_light() -> Any:
    import pyarrow as pa

    table = schema_of(LIGHT_FIELDS).empty_table()
    for name, kind in zip(PLACE, (pa.int32(), pa.int64(), pa.int32()), strict=True):
        table = table.append_column(name, pa.array([], kind))
    return table
