"""The pipelined guided schedule over served engines: every row moves on its own, no call waits for a batch.

`GuidedLoop`'s lockstep schedule calls the base for every active row, waits for all of them, then the oracle for
the rows it picked, and so on: each engine idles while the other works, and every call pays its fixed costs (adding
the batch, a prefill step, the wait for the slowest row) with the GPU half idle. Here each row's next request goes
to its engine the moment the row's previous segment ends (an `EngineWorker` thread per engine), so an engine keeps
decoding the rows it has while others join, and the two engines (two processes) work at the same time.

Each row takes exactly the steps of the lockstep schedule: base segment, then at each decision point (at most `c`
consultations) the policy, with the base's next-token statistics from a one-token probe when it needs them, then
`k` oracle tokens or the next base segment; a row ends on EOS or `max_new_tokens`. Its text depends only on its own
steps (greedy, or a sampling seed per row and request), not on which rows it was batched with.
"""

from __future__ import annotations

import queue
import time
from typing import Any

from backends.guided.handover import token_texts_batch
from backends.guided.session import GuidedLoop, GuidedSequence, ModelSampling, Prompt, RowView
from backends.guided.vllm_driver import EngineWorker


def can_pipeline(base: Any, oracle: Any) -> bool:
    return all(callable(getattr(s, "submit_row", None)) and getattr(s, "driver", None) is not None
               for s in (base, oracle))


def run_pipelined(loop: GuidedLoop, prompts: list[Prompt], base_sampling: ModelSampling,
                  oracle_sampling: ModelSampling, seqs: list[GuidedSequence], rngs: list[Any]) -> None:
    base, oracle, p, policy = loop.base, loop.oracle, loop.params, loop.policy
    base.open([base.render(x) for x in prompts], base_sampling, track_stats=p.token_stats)
    oracle.open([oracle.render(x) for x in prompts], oracle_sampling)
    results: queue.SimpleQueue[Any] = queue.SimpleQueue()
    workers = {id(s.driver): EngineWorker(s.driver, results) for s in (base, oracle)}
    worker = {"base": workers[id(base.driver)], "oracle": workers[id(oracle.driver)]}
    session = {"base": base, "oracle": oracle}
    contexts: dict[int, list[int]] = {}
    boundary: dict[int, dict[str, float]] = {}
    in_flight = 0
    # `timings.base_s` / `oracle_s`: the time each model had at least one request in flight (they overlap here)
    busy = {"base": 0, "oracle": 0}
    since = {"base": 0.0, "oracle": 0.0}

    def mark(source: str, delta: int) -> None:
        now = time.perf_counter()
        if busy[source] == 0 and delta > 0:
            since[source] = now
        busy[source] += delta
        if busy[source] == 0:
            spent = now - since[source]
            if source == "base":
                loop.timings.base_s += spent
            else:
                loop.timings.oracle_s += spent

    def submit(r: int, source: str, probe: bool = False) -> None:
        nonlocal in_flight
        size = p.step_size if source == "base" else p.k
        budget = 1 if probe else min(size, p.max_new_tokens - seqs[r].position)
        if budget <= 0:  # nothing left to write: the row has ended at its budget
            seqs[r].done, seqs[r].finish_reason = True, "length"
            return
        if not probe:
            contexts[r] = session[source].answer_ids(r)[-8:]
        session[source].submit_row(worker[source], r, budget, p.ignore_eos, (source, r, probe), probe=probe)
        in_flight += 1
        mark(source, 1)

    def decide(r: int, stats: dict[str, float]) -> None:
        seq = seqs[r]
        if policy.consult(RowView(row=r, position=seq.position, used=seq.consultations, c=p.c, k=p.k,
                                  max_new_tokens=p.max_new_tokens, stats=stats, rng=rngs[r])):
            seq.cheat_positions.append(seq.position)
            boundary[r] = stats
            submit(r, "oracle")
        else:
            submit(r, "base")

    try:
        for r in range(len(seqs)):
            submit(r, "base")
        while in_flight:
            tag, out = results.get()
            if tag is None:
                raise out
            in_flight -= 1
            source, r, probe = tag
            mark(source, -1)
            if probe:
                decide(r, base.take_row(r, out, p.ignore_eos, probe=True))
                continue
            seg = session[source].take_row(r, out, p.ignore_eos)
            texts = token_texts_batch(session[source].tokenizer, [(contexts[r], seg.ids)])[0]
            to_peer = loop.to_oracle if source == "base" else loop.to_base
            peer = oracle if source == "base" else base
            loop._record(seqs[r], source, seg, texts, to_peer, peer, boundary.pop(r, {}))
            if not seqs[r].done:
                if source == "base" and seqs[r].consultations < p.c:
                    if policy.needs_stats:
                        submit(r, "base", probe=True)
                    else:
                        decide(r, {})
                else:
                    submit(r, "base")
            if seqs[r].done:
                base.release([r])
                oracle.release([r])
    finally:
        for w in workers.values():
            w.stop()
