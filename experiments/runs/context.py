"""What a stage gets from the worker: the run store, the event emitter and its data-parallel slot."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.runs.emit import Emitter
from experiments.runs.store import RunStore


class Cancelled(BaseException):
    """Raised in the worker on SIGTERM: the chunk in flight is dropped (never half-written).

    A BaseException, like KeyboardInterrupt: the `except Exception` that turns one bad item into an item error
    (in engines, grading, stages) must never turn a cancellation into one.
    """


@dataclass
class StageContext:
    store: RunStore
    emit: Emitter
    worker: int = 0
    num_workers: int = 1
    home: Path | None = None
    served_model: str | None = None
    _server: Any = field(default=None, repr=False)

    def owns(self, chunk_index: int) -> bool:
        """Chunk i goes to worker i % N."""
        return chunk_index % self.num_workers == self.worker

    def record_load_errors(self, errors: list[Any]) -> None:
        """Bad dataset rows (RowError), recorded once per run: by worker 0 only."""
        if self.worker != 0:
            return
        for err in errors:
            self.store.add_error(err.item_id, err.reason, err.detail, stage="load")
            self.emit.item_error(err.item_id, err.reason, err.detail)

    def input_store(self, run: str) -> RunStore:
        if not run:
            raise ValueError("this stage needs input_run (the run whose records it reads)")
        return RunStore.open(run, self.home)

    def start_local_server(self, model: str, extra_args: list[str] | None = None) -> str:
        """Start a managed vLLM server for this run (stopped when the worker exits); returns its base_url."""
        from backends.server import start_vllm_server

        self.emit.log(f"starting a local vLLM server for {model}")
        self._server = start_vllm_server(model, extra_args=extra_args or (),
                                         log_path=self.store.dir / "server.log")
        self.served_model = self._server.model
        self.emit.log(f"server up at {self._server.base_url} in {self._server.startup_s}s (pid {self._server.pid})")
        self.store.update_manifest(server={"pid": self._server.pid, "base_url": self._server.base_url,
                                         "stopped": None})
        return self._server.base_url

    @property
    def server_base_url(self) -> str | None:
        return None if self._server is None else self._server.base_url

    def stop_local_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            self.store.update_manifest(server={"stopped": time.time()})  # `cancel` must not signal a reused pid
