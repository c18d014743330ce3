"""Row readers for local files (JSONL, JSON, Parquet, CSV), tolerant of malformed lines.

Text files are decoded by their byte-order mark (UTF-8-sig, UTF-16 LE/BE, UTF-32 LE/BE) and are UTF-8 otherwise;
a file that is neither is refused as a whole, with the encoding it looks like, instead of reading as "invalid JSON"
on every line. Parquet rows keep a NaN apart from a null (a NaN is a `nan_value` row error, a null a missing field).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from experiments.datasets.extract import is_nan, to_plain

# longest first: the UTF-32 LE mark starts with the UTF-16 LE one
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
SNIFF_BYTES = 1 << 16


def _looks_like(sample: bytes) -> str:
    """A name for the encoding of bytes that are not UTF-8 (to say what the file is, not to decode it)."""
    even, odd = sample[0::2], sample[1::2]
    if sample and odd.count(0) > len(odd) // 3 and even.count(0) < len(even) // 10:
        return "UTF-16-LE without a byte-order mark"
    if sample and even.count(0) > len(even) // 3 and odd.count(0) < len(odd) // 10:
        return "UTF-16-BE without a byte-order mark"
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(sample).best()
        if best is not None:
            return best.encoding
    except ImportError:
        pass
    return "a legacy 8-bit encoding"


def text_encoding(path: Path) -> str:
    """The codec to read a text dataset with: by its byte-order mark, else UTF-8 (checked, whole file)."""
    with path.open("rb") as fh:
        head = fh.read(4)
        for bom, encoding in BOMS:
            if head.startswith(bom):
                return encoding
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = 0
        while chunk := fh.read(SNIFF_BYTES):
            if offset == 0 and chunk.count(0) > len(chunk) // 8:  # valid UTF-8, but text never holds NULs
                raise ValueError(f"{path.name} is not UTF-8 text (it holds NUL bytes); it looks like "
                                 f"{_looks_like(chunk)}: save it as UTF-8 (or with a byte-order mark)")
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = offset + exc.start
                fh.seek(max(0, at - 1024))
                guess = _looks_like(fh.read(SNIFF_BYTES))
                raise ValueError(f"{path.name} is not UTF-8 (byte 0x{chunk[exc.start]:02x} at offset {at}); it looks "
                                 f"like {guess}: save it as UTF-8 (or with a byte-order mark)") from None
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ValueError(f"{path.name} is not UTF-8: it ends inside a multi-byte character") from None
    return "utf-8"

RowOrError = tuple[int, dict[str, Any] | None, str]  # (row index, row or None, error detail)


def detect_format(path: Path, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    suffix = path.suffix.lower()
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(
        suffix, "jsonl"
    )


def iter_jsonl(path: Path) -> Iterator[RowOrError]:
    with path.open("r", encoding=text_encoding(path), newline=None) as fh:
        for index, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield index, None, f"line {index + 1}: invalid JSON ({exc.msg})"
                continue
            if not isinstance(row, dict):
                yield index, None, f"line {index + 1}: expected an object, got {type(row).__name__}"
                continue
            yield index, row, ""


def iter_json(path: Path) -> Iterator[RowOrError]:
    """A JSON list of objects, or an object of objects keyed by index (the seeds' predictions shape).

    A `.json` file that is really JSON Lines is read as such; `{"data": [...]}` wrappers are unwrapped.
    """
    try:
        data = json.loads(path.read_text(encoding=text_encoding(path)))
    except json.JSONDecodeError:
        yield from iter_jsonl(path)
        return
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    items = list(data.values()) if isinstance(data, dict) else data if isinstance(data, list) else [data]
    for index, row in enumerate(items):
        if isinstance(row, dict):
            yield index, row, ""
        else:
            yield index, None, f"item {index}: expected an object, got {type(row).__name__}"


def iter_table(path: Path, fmt: str) -> Iterator[RowOrError]:
    """Parquet/CSV rows as plain Python (nested columns become dicts and lists, not numpy arrays).

    CSV cells stay strings (an answer "007" keeps its zeros) and empty cells read as "" (a missing value).
    """
    if fmt == "parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()  # nulls stay None and NaNs stay NaN (pandas would merge them)
    else:
        import pandas as pd

        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=text_encoding(path))
        rows = frame.to_dict(orient="records")
    for index, row in enumerate(rows):
        yield index, {str(k): v if is_nan(v) else to_plain(v) for k, v in row.items()}, ""


def iter_files(paths: list[Path], fmt: str = "auto") -> Iterator[RowOrError]:
    """Rows of several files as one dataset: indices run on across files, so ids stay unique and stable."""
    base = 0
    for path in paths:
        last = -1
        for index, row, error in iter_rows(path, fmt):
            last = index
            yield base + index, row, error
        base += last + 1


def count_rows(path: Path, fmt: str = "auto") -> int:
    """Rows in a local file, cheaply where the format allows (parquet metadata, non-blank JSONL lines)."""
    fmt = detect_format(path, fmt)
    if fmt == "jsonl":
        with path.open("r", encoding=text_encoding(path)) as fh:
            return sum(1 for line in fh if line.strip())
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return sum(1 for _ in iter_rows(path, fmt))


def iter_rows(path: Path, fmt: str = "auto") -> Iterator[RowOrError]:
    fmt = detect_format(path, fmt)
    if fmt == "jsonl":
        return iter_jsonl(path)
    if fmt == "json":
        return iter_json(path)
    if fmt in ("parquet", "csv"):
        return iter_table(path, fmt)
    raise ValueError(f"unknown dataset format {fmt!r} (jsonl, json, parquet, csv)")
