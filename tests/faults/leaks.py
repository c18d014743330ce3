"""A recognisable fake API key, and the scan that proves it was never written into a run's files."""

from __future__ import annotations

from pathlib import Path

KEY_ENV = "CONFCONSOLE_FAULTS_API_KEY"
FAKE_KEY = "sk-faults-CANARY-7f3e9a1c5b2d4e6f8091a2b3c4d5e6f7"


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file()]


def assert_no_key(*roots: Path, key: str = FAKE_KEY) -> int:
    """Every file under `roots` (run folders, logs, exports; any format, read as bytes) is free of the key and
    of its distinctive middle (a key cut or re-encoded would still show it). Returns the files scanned."""
    needles = [key.encode(), key[9:31].encode(), key.encode("utf-16-le")]
    files = files_under(*roots)
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"the API key leaked into {path}"
    return len(files)
