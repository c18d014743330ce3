"""Guided evaluation: every (c, k) cell of the grid over the dataset, graded, with live token events.

Chunk `cell * blocks + block` holds one block of `chunk_size` questions (x n answers) of one cell, so resume
skips whole cells and blocks. Both models are loaded once for the run; each block is one batched `GuidedLoop`.
When a cell's last block is written its accuracy, token counts and tokens/s go to `outputs/grid.json` and an
`artifact` event (kind `guided_cell`); the finalize summary carries the whole grid.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from experiments.datasets import Example, load_examples
from experiments.prompts import render_messages
from experiments.runs.context import StageContext
from experiments.runs.events import TokenPiece
from experiments.stages.guided.records import cell_summary, make_record
from experiments.stages.guided.spec import ORACLE_ALONE, GuidedSpec


def policy_for(spec: GuidedSpec, cell: tuple[int, int]) -> Any:
    from experiments.stages.guided.policies import make_policy

    name = "never" if cell == (0, 0) else "oracle_only" if cell == ORACLE_ALONE else spec.policy
    return make_policy(name, threshold=spec.threshold, p_start=spec.p_start, p_end=spec.p_end)


class Sessions:
    """Loads each model on first use (a resumed run with only oracle cells left never loads the base)."""

    def __init__(self, spec: GuidedSpec, ctx: StageContext) -> None:
        self.spec, self.ctx = spec, ctx
        self._open: dict[str, Any] = {}

    def get(self, role: str) -> Any:
        """`base`, `oracle`, or `analysis`: an hf copy of the base for teacher-forced statistics."""
        from experiments.stages.guided.sessions import open_session

        if role not in self._open:
            spec = self.spec
            if role == "analysis" and spec.base_backend.kind == "hf":
                self._open[role] = self.get("base")
            elif role == "analysis":
                from backends.guided.hf_session import HFSession

                self._open[role] = HFSession(spec.base, attention_stats=spec.attention_stats)
            elif role == "base":
                self._open[role] = open_session(spec.base_backend, spec.base, self.ctx, role,
                                                attention_stats=spec.attention_stats)
            else:
                from experiments.stages.guided.sessions import open_oracle

                self._open[role] = open_oracle(spec.oracle_backend, spec.oracle, self.ctx, spec.base_backend,
                                               spec.base, lambda: self.get("base"))
        return self._open[role]

    def close(self) -> None:
        for session in {id(s): s for s in self._open.values()}.values():
            getattr(session, "close", lambda: None)()


def run(spec: GuidedSpec, ctx: StageContext) -> None:
    store, emit = ctx.store, ctx.emit
    loaded = load_examples(spec.dataset)
    ctx.record_load_errors(loaded.errors)
    examples = loaded.examples
    blocks = [examples[i:i + spec.chunk_size] for i in range(0, len(examples), spec.chunk_size)]
    cells = spec.cells()
    total = len(examples) * spec.n * len(cells)
    store.update_manifest(counts={"examples": len(examples), "cells": len(cells), "expected_records": total,
                                  "chunks_total": len(cells) * len(blocks)}, chunks_in_flight=1)
    emit.log(f"{len(examples)} questions x {spec.n} x {len(cells)} cells {cells}; {len(blocks)} blocks per cell")
    sessions = Sessions(spec, ctx)
    from experiments.grading import GradingPool
    from experiments.grading.pool import prestart

    prestart()  # the graders load in their own process while the models load here
    pool = GradingPool(workers=1, timeout=10.0)  # its worker starts at the first grade
    try:
        for ci, cell in enumerate(cells):
            for bi, block in enumerate(blocks):
                index = ci * len(blocks) + bi
                if not ctx.owns(index):
                    continue
                if store.chunk_done(index):
                    emit.chunk(index, "skipped", len(block) * spec.n)
                    continue
                records = run_block(spec, ctx, sessions, cell, block, index, pool)
                emit.chunk(index, "computed", store.write_chunk(index, records))
                emit.progress(store.record_count(), total, unit="answers")
            indices = [ci * len(blocks) + b for b in range(len(blocks))]
            if all(store.chunk_done(i) for i in indices):
                publish_cell(ctx, cell, indices)
    finally:
        pool.close()
        emit.flush()
        sessions.close()
    emit.progress(store.record_count(), total, unit="answers", force=True)


def block_loop(spec: GuidedSpec, sessions: Sessions, cell: tuple[int, int],
               on_pieces: Callable[[int, list[Any]], None] | None = None) -> Any:
    """The `GuidedLoop` of one (c, k) cell: its policy, the sessions it needs (loaded on first use) and the
    spec's parameters. A block of the stage and `confconsole guided prompt` both run through it."""
    from backends.guided.session import GuidedLoop, GuidedParams, sessions_needed

    c, k = cell
    policy = policy_for(spec, cell)
    needs_base, needs_oracle = sessions_needed(policy, c, k)
    params = GuidedParams(c=max(c, 0), k=max(k, 0), step_size=spec.step_size,
                          max_new_tokens=spec.max_new_tokens, ignore_eos=spec.ignore_eos,
                          token_stats=spec.stats == "during", boundary_stats=spec.stats != "none")
    return GuidedLoop(sessions.get("base") if needs_base else None, sessions.get("oracle") if needs_oracle else None,
                      policy, params, on_pieces=on_pieces, seed=spec.seed)


def samplings(spec: GuidedSpec, index: int) -> tuple[Any, Any]:
    """Base and oracle sampling of chunk `index`: seeds derived from the spec's, so a resume repeats a block."""
    from backends.guided.session import ModelSampling

    def one(s: Any, offset: int) -> ModelSampling:
        seed = None if s.seed is None else s.seed + 1000003 * index + offset
        return ModelSampling(temperature=s.temperature, top_p=s.top_p, seed=seed)

    return one(spec.base_sampling, 0), one(spec.oracle_sampling, 1)


def guide_prompt(spec: GuidedSpec, prompt: str, ctx: Any,
                 on_pieces: Callable[[int, list[Any]], None] | None = None) -> tuple[Any, Any]:
    """One prompt through the stage's own loop at the spec's (c, k), in this process: (sequence, timings)."""
    sessions = Sessions(spec, ctx)
    try:
        loop = block_loop(spec, sessions, (spec.c, spec.k), on_pieces)
        [seq] = loop.run([[{"role": "user", "content": prompt}]], *samplings(spec, 0))
        return seq, loop.timings
    finally:
        sessions.close()


def run_block(spec: GuidedSpec, ctx: StageContext, sessions: Sessions, cell: tuple[int, int],
              block: list[Example], index: int, pool: Any) -> list[dict[str, Any]]:
    rows = [(ex, s) for ex in block for s in range(spec.n)]
    messages = [render_messages(ex, spec.dataset.template, spec.dataset.system_prompt) for ex, _ in rows]
    c, k = cell
    streams = [f"c{c}k{k}/{ex.example_id}#{s}" for ex, s in rows]

    def on_pieces(row: int, pieces: list[Any]) -> None:
        ctx.emit.tokens(streams[row], [TokenPiece(text=p.text, source=p.source, position=p.position,
                                                  stats={key: float(v) for key, v in p.stats.items()})
                                       for p in pieces])

    loop = block_loop(spec, sessions, cell, on_pieces if spec.live_tokens else None)
    started = time.perf_counter()
    seqs = loop.run(messages, *samplings(spec, index), row_keys=[f"{ex.example_id}#{s}" for ex, s in rows])
    wall = time.perf_counter() - started
    ctx.emit.flush_tokens()
    from experiments.grading import GradeItem

    verdicts = pool.grade_all([GradeItem(domain=spec.dataset.domain or ex.domain, response=seq.text,
                                         gold=str(ex.gold), context=ex.context or {})
                               for (ex, _), seq in zip(rows, seqs, strict=True)])
    records = []
    for (ex, s), msgs, seq, verdict in zip(rows, messages, seqs, verdicts, strict=True):
        analysis = analysis_for(spec, sessions, msgs, seq)
        records.append(make_record(spec, cell, ex, s, msgs, seq, verdict, analysis, wall, index))
    tokens = sum(r["total_tokens_generated"] for r in records)
    ctx.emit.metric("tokens_per_s", tokens / max(wall, 1e-9))
    return records


def analysis_for(spec: GuidedSpec, sessions: Sessions, messages: Any, seq: Any) -> list[dict[str, Any]]:
    """Per-position statistics: from generation (hf base), or one teacher-forced pass of the base model."""
    if spec.stats == "none":
        return []
    if spec.stats == "during" and spec.base_backend.kind == "hf":
        return [{"position": p.position, "token": p.text, "source": p.source, **p.stats} for p in seq.pieces]
    from experiments.stages.guided.analysis import teacher_analysis

    return teacher_analysis(sessions.get("analysis"), messages, seq.segments)


def publish_cell(ctx: StageContext, cell: tuple[int, int], indices: list[int]) -> None:
    """Recompute the cell's summary from its chunks, update outputs/grid.json, emit a `guided_cell` artifact."""
    records = [r for i in indices for r in ctx.store.read_chunk(i)]
    summary = cell_summary(cell, records)
    path = ctx.store.output_path("grid.json")
    grid = json.loads(path.read_text()) if path.exists() else []
    grid = [g for g in grid if (g["c"], g["k"]) != cell] + [summary]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(grid, indent=1))
    tmp.replace(path)
    ctx.emit.artifact(str(path), "guided_cell", summary=summary)


def finalize(spec: GuidedSpec, ctx: StageContext) -> dict[str, Any]:
    records = ctx.store.records()
    by_cell: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for r in records:
        by_cell.setdefault((r["c"], r["k"]), []).append(r)
    grid = [cell_summary(cell, by_cell.get(cell, [])) for cell in spec.cells()]
    path = ctx.store.output_path("grid.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(grid, indent=1))
    return {"records": len(records), "grid": grid, "errors": len(ctx.store.errors())}
