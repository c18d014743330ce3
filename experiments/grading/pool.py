"""Process pool whose parent enforces a hard per-item wall-clock limit.

Why not ``multiprocessing.Pool``: a sympy call stuck in C (a tower of exponents) ignores signals,
and Pool cannot kill one task's worker. Here each worker grades one item at a time in its main
thread; the parent knows when every item started, SIGKILLs a worker that runs past ``timeout``,
marks the item ``timeout`` and forks a replacement. Workers come from a forkserver that has the
graders preloaded, so the parent (which may hold torch) is never forked and replacements are cheap.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import signal
import sys
import time
import types
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

from experiments.grading.verdict import Verdict, error, timeout

PREFETCH = 2  # items queued per worker, so a worker never idles waiting for the parent
PREFETCH_MAX_BYTES = 32_768  # only queue a second item when it fits the pipe buffer (send never blocks)
EXTRACTED_MAX = 2000


@dataclass
class GradeItem:
    """One thing to grade; ``context`` holds domain extras (options, tests, entry_point, ...)."""

    domain: str
    response: str
    gold: str
    context: dict = field(default_factory=dict)


class _SoftTimeout(BaseException):
    """Raised by SIGALRM inside a worker: a cheaper exit than being SIGKILLed by the parent."""


def _worker_main(conn: Connection, soft_timeout: float) -> None:
    """Worker loop: receive pickled items, grade each under a soft SIGALRM limit, send tuples back."""
    # Ctrl-C and `cancel` (SIGTERM to the run's process group) are the parent's business: a worker killed by them
    # would turn the item it holds into a "grader process died" error instead of a clean cancellation.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import logging

    from experiments.grading import math_grader
    from experiments.grading.dispatch import grade

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    math_grader.USE_SIGNAL_TIMEOUTS = False  # our own alarm below; math-verify's would replace it
    armed = [False]

    def on_alarm(_sig: int, _frame: object) -> None:
        if armed[0]:
            raise _SoftTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        idx, domain, response, gold, context = pickle.loads(data)
        try:
            try:
                armed[0] = True
                signal.setitimer(signal.ITIMER_REAL, soft_timeout)
                out = grade(domain, response, gold, **context).to_tuple()
            finally:
                armed[0] = False
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _SoftTimeout:
            out = ("soft-timeout",)
        except BaseException as e:  # noqa: B036 - report, keep serving
            out = error(f"{type(e).__name__}: {str(e)[:200]}").to_tuple()
        if len(out) == 4 and isinstance(out[1], str) and len(out[1]) > EXTRACTED_MAX:
            out = (out[0], out[1][:EXTRACTED_MAX], out[2], out[3])
        conn.send_bytes(pickle.dumps((idx, out), protocol=pickle.HIGHEST_PROTOCOL))


def _context() -> mp.context.BaseContext:
    """forkserver with the graders preloaded (Linux/macOS); spawn elsewhere."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["experiments.grading._warm"])
        return ctx
    return mp.get_context("spawn")


def prestart() -> None:
    """Start the forkserver now: it imports and warms the graders (seconds) in its own process while the caller
    loads something else (a model); the first pool worker then forks at once instead of waiting for it."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with _main_hidden():
            forkserver.ensure_running()


@contextmanager
def _main_hidden() -> Iterator[None]:
    """Start workers without the parent's ``__main__``.

    spawn/forkserver children normally re-run the parent's main script (as ``__mp_main__``); for
    a CLI or notebook that means re-importing torch/Textual in every worker, or crashing when the
    script lacks a ``__main__`` guard. Workers only need this package, so the parent's main module
    is swapped for an empty one while the start request is pickled.
    """
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


class _Worker:
    """A worker process, its pipe, and the items sent to it: (index, payload, start time or None)."""

    def __init__(self, ctx: mp.context.BaseContext, soft_timeout: float) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, soft_timeout), daemon=True)
        with _main_hidden():
            self.proc.start()
        child.close()
        self.queue: deque[list] = deque()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class GradingPool:
    """Grade many items in worker processes with a parent-enforced per-item ``timeout`` (seconds)."""

    def __init__(self, workers: int = 2, timeout: float = 5.0) -> None:
        if workers < 1 or timeout <= 0:
            raise ValueError("workers must be >= 1 and timeout > 0")
        self.n_workers = workers
        self.timeout = float(timeout)
        self.soft_timeout = max(self.timeout * 0.85, self.timeout - 0.5)
        self._ctx = _context()
        self._workers: list[_Worker] = []
        self.restarts = 0

    def __enter__(self) -> GradingPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        while len(self._workers) < self.n_workers:
            self._workers.append(_Worker(self._ctx, self.soft_timeout))

    def close(self) -> None:
        """Stop all workers (closing the pipe ends their loop; stragglers are killed)."""
        for w in self._workers:
            w.conn.close()
        deadline = time.monotonic() + 1.0
        for w in self._workers:
            w.proc.join(max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(5)
        self._workers = []

    def _replace(self, w: _Worker) -> None:
        w.kill()
        self._workers[self._workers.index(w)] = _Worker(self._ctx, self.soft_timeout)
        self.restarts += 1

    def grade_all(self, items: Sequence[GradeItem]) -> list[Verdict]:
        """Verdicts in input order."""
        out: list[Verdict | None] = [None] * len(items)
        for i, v in self.grade_many(items):
            out[i] = v
        return out  # type: ignore[return-value]

    def grade_many(self, items: Iterable[GradeItem]) -> Iterator[tuple[int, Verdict]]:
        """Yield (index into items, verdict) as items finish, in any order. Consumes items lazily."""
        self.start()
        source = enumerate(items)
        retry: deque[tuple[int, bytes]] = deque()
        exhausted = False
        inflight = 0
        deaths_without_progress = 0

        unsendable: list[tuple[int, Verdict]] = []

        def next_payload() -> tuple[int, bytes] | None:
            nonlocal exhausted
            if retry:
                return retry.popleft()
            while not exhausted:
                try:
                    i, it = next(source)
                except StopIteration:
                    exhausted = True
                    return None
                try:
                    msg = (i, it.domain, it.response, it.gold, dict(it.context or {}))
                    return i, pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as e:  # e.g. an unpicklable context value: that item only
                    unsendable.append((i, error(f"item cannot be sent to a worker: {type(e).__name__}: {e}")))
            return None

        def requeue_rest(w: _Worker) -> None:
            nonlocal inflight
            for i, payload, _ in reversed(w.queue):
                retry.appendleft((i, payload))
                inflight -= 1
            w.queue.clear()

        try:
            while True:
                pending_out: list[tuple[int, Verdict]] = []
                for w in self._workers:  # fill: one running item plus a small prefetched one
                    while len(w.queue) < PREFETCH:
                        nxt = next_payload()
                        if nxt is None:
                            break
                        i, payload = nxt
                        if w.queue and len(payload) > PREFETCH_MAX_BYTES:
                            retry.appendleft(nxt)
                            break
                        try:
                            w.conn.send_bytes(payload)
                        except (OSError, ValueError):
                            retry.appendleft(nxt)
                            break
                        w.queue.append([i, payload, None if w.queue else time.monotonic()])
                        inflight += 1
                if unsendable:
                    yield from unsendable
                    unsendable.clear()
                if inflight == 0 and exhausted and not retry:
                    return
                now = time.monotonic()
                deadlines = [w.queue[0][2] + self.timeout - now for w in self._workers if w.queue]
                wait_s = max(0.0, min(deadlines)) if deadlines else None
                objs = [w.conn for w in self._workers] + [w.proc.sentinel for w in self._workers]
                wait(objs, timeout=wait_s)
                now = time.monotonic()
                for w in list(self._workers):
                    dead = False
                    try:
                        while w.queue and w.conn.poll():
                            idx, out = pickle.loads(w.conn.recv_bytes())
                            head = w.queue.popleft()
                            inflight -= 1
                            deaths_without_progress = 0
                            if w.queue:
                                w.queue[0][2] = time.monotonic()
                            v = timeout(self.timeout) if out == ("soft-timeout",) else Verdict.from_tuple(out)
                            pending_out.append((head[0], v))
                    except (EOFError, OSError):
                        dead = True
                    if dead or not w.proc.is_alive():
                        if w.queue:
                            i = w.queue.popleft()[0]
                            inflight -= 1
                            code = w.proc.exitcode
                            pending_out.append((i, error(f"grader process died (exit code {code})")))
                        requeue_rest(w)
                        deaths_without_progress += 1
                        if deaths_without_progress > 5 * self.n_workers + 5:
                            raise RuntimeError("grading workers keep dying without finishing any item")
                        self._replace(w)
                    elif w.queue and now - w.queue[0][2] >= self.timeout:
                        i = w.queue.popleft()[0]
                        inflight -= 1
                        requeue_rest(w)
                        self._replace(w)
                        pending_out.append((i, timeout(self.timeout)))
                yield from pending_out
        finally:
            for w in list(self._workers):  # abandoned early: drop workers holding stale items
                if w.queue:
                    self._replace(w)
