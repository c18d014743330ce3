"""What a stage gets from the worker: the run store, the event emitter and its data-parallel slot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from experiments.emit import Emitter
from experiments.store import RunStore


class Cancelled(Exception):
    """Raised in the worker on SIGTERM: the chunk in flight is dropped (never half-written)."""


@dataclass
class StageContext:
    store: RunStore
    emit: Emitter
    worker: int = 0
    num_workers: int = 1
    home: Path | None = None

    def owns(self, chunk_index: int) -> bool:
        """Chunk i goes to worker i % N."""
        return chunk_index % self.num_workers == self.worker

    def input_store(self, run: str) -> RunStore:
        if not run:
            raise ValueError("this stage needs input_run (the run whose records it reads)")
        return RunStore.open(run, self.home)
