"""Converting the embedded GGUF with each file parsed once (`_parse_gguf_once`) writes the same folder as
transformers' own three parses did (the session's converted folder: weights byte for byte, JSON up to the
release that wrote it), and leaves `gguf` as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _comparable(path: Path) -> bytes | dict:
    """A file's bytes; a JSON file without `transformers_version`, since the session's folder may have been
    converted by another transformers release (a cache shared between virtual environments)."""
    if path.suffix != ".json":
        return path.read_bytes()
    data = json.loads(path.read_text())
    data.pop("transformers_version", None)
    return data


def test_fast_conversion_writes_the_same_folder(tmp_path: Path, embedded_model: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import gguf

    from backends.embedded import ensure_embedded

    before = (gguf.GGUFReader, gguf.get_tensor_name_map)
    monkeypatch.setenv("CONFCONSOLE_CACHE", str(tmp_path))
    fresh = ensure_embedded()
    assert fresh != Path(embedded_model) and (fresh / ".complete").exists()
    names = sorted(p.name for p in Path(embedded_model).iterdir())
    assert names == sorted(p.name for p in fresh.iterdir()) and "model.safetensors" in names
    for name in names:
        assert _comparable(fresh / name) == _comparable(Path(embedded_model) / name), name
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == before
