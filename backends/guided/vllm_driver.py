"""One engine call of a vLLM guided session: a batch of token-id contexts in, their continuations out.

Why not `LLM.generate`: it adds requests one at a time while the engine core (its own process) is already running,
so the first rows start a step or two before the last ones arrive and the call lasts as long as its latest row. A
guided answer makes about 40 calls per model (one per segment), so that spread is paid 40 times where plain
generation pays it once. Here the scheduler is paused while the batch is added (`pause_scheduler("keep")`, nothing
is running between calls) and resumed after the last request: every row enters the same first step. Outputs are
final-only and not detokenized (sessions work on token ids and decode pieces themselves).

`CallStats` counts what each call cost (engine steps, time to add the batch, time to the first output), the
profile `bench/guided_speed.py` prints.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class CallStats:
    calls: int = 0
    rows: int = 0
    steps: int = 0  # engine outputs collected: one per engine step while the call runs
    add_s: float = 0.0  # adding the batch (request processing in this process), gate included
    first_s: float = 0.0  # from the last request added to the first engine output
    total_s: float = 0.0
    row_requests: int = 0  # pipelined schedule (`EngineWorker`): requests, and engine steps while any ran
    row_steps: int = 0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


class EngineDriver:
    """Runs batches on `llm.llm_engine` (`gate`: admit each batch at once; off: plain adds like `LLM.generate`)."""

    def __init__(self, llm: Any, gate: bool = True) -> None:
        self.engine = llm.llm_engine
        core = getattr(self.engine, "engine_core", None)
        # an in-process engine core steps only when asked: its batches are whole already
        self.gate = gate and callable(getattr(core, "call_utility", None))
        self.stats = CallStats()
        self._ids = itertools.count()

    def run(self, prompts: list[list[int]], params: list[Any]) -> list[Any]:
        """The final `RequestOutput` of each prompt, in order (one `SamplingParams` per prompt)."""
        engine = self.engine
        ids = [f"g{next(self._ids)}" for _ in prompts]
        started = time.perf_counter()
        gated = self._pause()
        added = 0
        try:
            for rid, prompt, sp in zip(ids, prompts, params, strict=True):
                engine.add_request(rid, {"prompt_token_ids": prompt}, sp)
                added += 1
        except BaseException:
            if added:
                engine.abort_request(ids[:added])
            raise
        finally:
            if gated:
                self._resume()
        submitted = time.perf_counter()
        index = {rid: i for i, rid in enumerate(ids)}
        outs: list[Any] = [None] * len(ids)
        left, steps, first = len(ids), 0, 0.0
        try:
            while left:
                batch = engine.step()
                steps += 1
                if not first and batch:
                    first = time.perf_counter()
                for out in batch:
                    i = index.get(out.request_id)
                    if i is not None and out.finished and outs[i] is None:
                        outs[i], left = out, left - 1
        except BaseException:
            engine.abort_request([rid for rid, out in zip(ids, outs, strict=True) if out is None])
            raise
        done = time.perf_counter()
        s = self.stats
        s.calls, s.rows, s.steps = s.calls + 1, s.rows + len(ids), s.steps + steps
        s.add_s += submitted - started
        s.first_s += (first or done) - submitted
        s.total_s += done - started
        return outs

    def _pause(self) -> bool:
        if not self.gate:
            return False
        try:
            self.engine.engine_core.call_utility("pause_scheduler", "keep", False)
            return True
        except Exception:  # noqa: BLE001 - an engine without the pause utility: plain adds from now on
            self.gate = False
            return False

    def _resume(self) -> None:
        self.engine.engine_core.call_utility("resume_scheduler")


class EngineWorker:
    """A thread that owns one engine for the pipelined guided schedule (`backends/guided/pipelined.py`).

    Rows are independent there: each row's next request is submitted the moment its previous segment ends, so an
    engine keeps decoding the rows it has while others join, and the two engines of a pair work at the same time
    (each engine core is its own process). The thread alone calls the engine (adds and steps), so the caller's
    thread only queues requests and reads finished ones: `submit` -> `results.put((tag, RequestOutput))`.
    """

    def __init__(self, driver: EngineDriver, results: Any) -> None:
        import queue
        import threading

        self.engine, self.results, self.stats = driver.engine, results, driver.stats
        self.commands: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ids = driver._ids
        self.pending: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, name="guided-engine", daemon=True)
        self.thread.start()

    def submit(self, prompt: list[int], params: Any, tag: Any) -> None:
        self.commands.put((f"g{next(self._ids)}", prompt, params, tag))

    def stop(self) -> None:
        self.commands.put(None)
        self.thread.join(timeout=60)

    def _run(self) -> None:
        import queue

        engine = self.engine
        try:
            while True:
                try:  # wait for work only when nothing is in flight
                    command = self.commands.get(block=not self.pending)
                except queue.Empty:
                    command = False
                while command is not False:
                    if command is None:
                        if self.pending:
                            engine.abort_request(list(self.pending))
                        return
                    rid, prompt, params, tag = command
                    engine.add_request(rid, {"prompt_token_ids": prompt}, params)
                    self.pending[rid] = tag
                    self.stats.row_requests += 1
                    try:
                        command = self.commands.get_nowait()
                    except queue.Empty:
                        command = False
                if self.pending:
                    self.stats.row_steps += 1
                    for out in engine.step():
                        if out.finished and out.request_id in self.pending:
                            self.results.put((self.pending.pop(out.request_id), out))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which raises it
            self.results.put((None, exc))
