"""A run's records by column and by row number, for runs of any size: `RecordsIndex.open(store)`.

The JSONL chunks stay the truth. Next to them, `index/` holds one light row per record (ids, domain, model,
token, rule / judge verdicts and statuses, and where the record lives: chunk, byte offset, length) and the
lower-cased search text in segments (`experiments.views.index_build`). Filters and counts are numpy over the light
columns; a page is read by offset, a few kilobytes; search maps the text a block at a time and can stop at the
first page. So the Records screen never holds a run in memory, whatever its size.
"""

from __future__ import annotations

import json
import mmap
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from experiments.runs.store import RunStore
from experiments.views import index_build as ib

OPEN_FILES = 8


class IndexStale(RuntimeError):
    """A chunk changed under the index (a force-resume): reload."""


class RecordsIndex:
    """The light columns of every record (arrow + numpy), the search text, and reads of whole records."""

    def __init__(self, store: RunStore, light: Any, segments: list[ib.Segment], signature: list[list[Any]]) -> None:
        self.store = store
        self.light = light
        self.segments = segments
        self.signature = signature
        self.count = light.num_rows
        self.chunk = light.column("chunk").to_numpy()
        self.offset = light.column("offset").to_numpy()
        self.length = light.column("length").to_numpy()
        self.sample_idx = light.column("sample_idx").to_numpy(zero_copy_only=False)
        self._codes: dict[str, tuple[np.ndarray, list[str]]] = {}
        self._stamps = {int(n): (size, mtime) for n, size, mtime in signature}
        self._files: OrderedDict[int, int] = OrderedDict()
        self._lock = threading.Lock()

    # -- opening ----------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, store: RunStore, progress: ib.Progress | None = None, workers: int | None = None) -> RecordsIndex:
        """The run's index: read from `index/` when it matches the chunks, else (re)built and written there
        (kept in memory when the run folder is read-only)."""
        signature = ib.chunk_signature(store)
        key = ib.index_key(signature)
        path = store.dir / ib.INDEX_DIR / ib.LIGHT_FILE
        old = None
        if path.exists():
            try:
                meta = ib.light_metadata(path)
                segments = [ib.Segment(**s) for s in json.loads(meta.get(b"confconsole.segments", b"[]"))]
                if meta.get(b"confconsole.key", b"").decode() == key and all(
                        (path.parent / f"{s.file}.bin").exists() for s in segments):
                    return cls(store, ib.read_light(path), segments, signature)
                old = {"segments": [s.describe() for s in segments]}
            except (OSError, ValueError, TypeError):
                old = None
        light, segments = ib.build(store, signature, old, progress, workers)
        try:
            ib.write(store, light, segments, key)
            return cls(store, ib.read_light(path), segments, signature)
        except OSError:  # a read-only run folder: this session keeps the index in memory
            return cls(store, ib.dictionaries(light), segments, signature)

    def fresh(self) -> bool:
        """Do the chunks on disk still match this index?"""
        return ib.chunk_signature(self.store) == self.signature

    def refresh(self, progress: ib.Progress | None = None) -> RecordsIndex:
        """This index when the chunks did not change, else a new one (only changed chunks are parsed)."""
        if self.fresh():
            return self
        self.close()
        return RecordsIndex.open(self.store, progress)

    # -- columns ----------------------------------------------------------------------------------------------
    def codes(self, name: str) -> tuple[np.ndarray, list[str]]:
        """A dictionary column as (int32 codes with -1 for null, its values)."""
        if name not in self._codes:
            column = self.light.column(name)
            if not self.count:
                self._codes[name] = (np.zeros(0, dtype=np.int32), [])
            else:
                array = column.combine_chunks()
                codes = array.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
                self._codes[name] = (codes, [str(v) for v in array.dictionary.to_pylist()])
        return self._codes[name]

    def bools(self, name: str) -> np.ndarray:
        """A nullable bool column as int8: 1, 0, -1 for null."""
        from experiments.reviews.policy import from_bool

        return from_bool(self.light.column(name)) if self.count else np.zeros(0, dtype=np.int8)

    def floats(self, name: str) -> np.ndarray:
        column = self.light.column(name)
        return column.to_numpy() if self.count else np.zeros(0)

    def rows_of(self, keys: list[tuple[str, int]]) -> np.ndarray:
        """Row numbers of (example_id, sample_idx) keys; -1 for a key the run does not hold. One pass over the
        id codes (no sort of the run), then a search among the few rows of the wanted examples."""
        if not keys or not self.count:
            return np.full(len(keys), -1, dtype=np.int64)
        import pyarrow as pa
        import pyarrow.compute as pc

        codes, values = self.codes("example_id")
        found = pc.index_in(pa.array([str(k[0]) for k in keys], pa.string()), value_set=pa.array(values, pa.string()))
        found = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        candidates = np.flatnonzero(np.isin(codes, np.unique(found[found >= 0])))
        have = codes[candidates].astype(np.int64) * (1 << 24) + self.sample_idx[candidates].astype(np.int64)
        order = np.argsort(have, kind="stable")
        have, candidates = have[order], candidates[order]
        wanted = found * (1 << 24) + np.array([int(k[1]) for k in keys], dtype=np.int64)
        if not len(have):
            return np.full(len(keys), -1, dtype=np.int64)
        pos = np.searchsorted(have, wanted).clip(0, len(have) - 1)
        return np.where((found >= 0) & (have[pos] == wanted), candidates[pos], -1).astype(np.int64)

    def key(self, row: int) -> tuple[str, int]:
        codes, values = self.codes("example_id")
        return values[codes[row]], int(self.sample_idx[row])

    # -- whole records by row -------------------------------------------------------------------------------
    def records(self, rows: Any) -> list[dict[str, Any]]:
        """The full records at `rows` (row numbers), read by byte offset: a page costs a page of reads."""
        out = []
        rows = np.asarray(rows, dtype=np.int64)
        for chunk in np.unique(self.chunk[rows]).tolist():  # a chunk rewritten since (force-resume): say so
            try:
                stat = os.stat(self.store.chunk_path(chunk))
            except FileNotFoundError:
                raise IndexStale(f"chunk {chunk} is gone (force-resumed?); reload the records (g)") from None
            if self._stamps.get(chunk) != (stat.st_size, stat.st_mtime_ns):
                raise IndexStale(f"chunk {chunk} changed on disk; reload the records (g)")
        for row in rows.tolist():
            chunk = int(self.chunk[row])
            data = os.pread(self._fd(chunk), int(self.length[row]), int(self.offset[row]))
            try:
                record = json.loads(data)
            except ValueError:
                record = None
            if not isinstance(record, dict) or str(record.get("example_id")) != self.key(row)[0]:
                raise IndexStale(f"chunk {chunk} changed on disk; reload the records (g)")
            out.append(record)
        return out

    def _fd(self, chunk: int) -> int:
        with self._lock:
            if chunk in self._files:
                self._files.move_to_end(chunk)
                return self._files[chunk]
            try:
                fd = os.open(self.store.chunk_path(chunk), os.O_RDONLY)
            except FileNotFoundError:
                raise IndexStale(f"chunk {chunk} is gone (force-resumed?); reload the records (g)") from None
            self._files[chunk] = fd
            while len(self._files) > OPEN_FILES:
                os.close(self._files.popitem(last=False)[1])
            return fd

    def close(self) -> None:
        with self._lock:
            for fd in self._files.values():
                os.close(fd)
            self._files.clear()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # -- search ---------------------------------------------------------------------------------------------
    def search(self, query: str, candidates: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """Rows whose example id, question or response contains `query` (case-insensitive), in row order, one
        block of text at a time (a caller can stop at the first page); only rows where `candidates` is True.

        The text is read in blocks of whole records with `pread` and searched with `bytes.find` (a fast substring
        search); after a hit the search jumps to the next record, so a common word costs one find per record."""
        needle = _lower(query).replace(ib.SEPARATOR, "").encode("utf-8")
        if not needle:
            raise ValueError("empty search")
        base = 0
        for seg in self.segments:
            wanted = candidates[base:base + seg.rows] if candidates is not None else None
            yield from (rows + base for rows in self._search_segment(seg, needle, wanted))
            base += seg.rows

    def _search_segment(self, seg: ib.Segment, needle: bytes, wanted: np.ndarray | None) -> Iterator[np.ndarray]:
        fd = None
        if seg.offsets is not None:
            offsets = seg.offsets
        else:
            folder = self.store.dir / ib.INDEX_DIR
            try:
                offsets = np.load(folder / f"{seg.file}.npy")
                fd = os.open(folder / f"{seg.file}.bin", os.O_RDONLY)
            except FileNotFoundError:
                raise IndexStale("the search index was rebuilt meanwhile; reload the records (g)") from None
        try:
            for first, last in _blocks(offsets):
                if wanted is not None and not wanted[first:last].any():
                    continue
                start, size = int(offsets[first]), int(offsets[last] - offsets[first])
                if size == 0:
                    continue
                if fd is None:
                    rows = _find_rows(seg.data[start:start + size], needle, offsets[first:last + 1] - start)
                else:  # mapped a block at a time: no copy, and the pages leave this process's RSS after
                    aligned = start - start % mmap.ALLOCATIONGRANULARITY
                    with mmap.mmap(fd, size + start - aligned, prot=mmap.PROT_READ, offset=aligned) as block:
                        rows = _find_rows(block, needle, offsets[first:last + 1] - aligned)
                rows = rows + first
                if wanted is not None:
                    rows = rows[wanted[rows]]
                if len(rows):
                    yield rows
        finally:
            if fd is not None:
                os.close(fd)


BLOCK_BYTES = 16 << 20


def _lower(text: str) -> str:
    """Lower-case a query exactly as the index lower-cased the text (arrow's utf8_lower)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return str(pc.utf8_lower(pa.scalar(text, pa.string())).as_py())


def _blocks(offsets: np.ndarray) -> Iterator[tuple[int, int]]:
    """(first row, end row) ranges of about BLOCK_BYTES of text each."""
    rows = len(offsets) - 1
    first = 0
    while first < rows:
        last = int(np.searchsorted(offsets, offsets[first] + BLOCK_BYTES, side="right")) - 1
        last = min(max(last, first + 1), rows)
        yield first, last
        first = last


def _find_rows(block: Any, needle: bytes, offsets: np.ndarray) -> np.ndarray:
    """Rows (relative to `offsets`, their text's positions in `block`) whose text holds `needle`: one `find` per
    hit, then on to the next row."""
    found = []
    ends = offsets[1:]
    pos = block.find(needle, int(offsets[0]))
    while pos >= 0:
        row = int(np.searchsorted(ends, pos, side="right"))
        found.append(row)
        pos = block.find(needle, int(ends[row]))
    return np.array(found, dtype=np.int64)


def index_complete_run(store: RunStore) -> None:
    """Build a run's records index in the worker that finalizes it, before the run is marked done, so the first
    open of a done run in the console (or `agreement`, `export`) reads a ready index: a million records take ~9 s
    to index on two cores."""
    if store.record_count():
        RecordsIndex.open(store).close()
