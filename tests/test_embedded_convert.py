"""Converting the embedded GGUF with each file parsed once (`_parse_gguf_once`) writes the same folder, byte for
byte, as transformers' own three parses did (the session's converted folder), and leaves `gguf` as it was."""

from __future__ import annotations

from pathlib import Path

import pytest


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
        assert (fresh / name).read_bytes() == (Path(embedded_model) / name).read_bytes(), name
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == before
