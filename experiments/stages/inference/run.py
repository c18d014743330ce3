"""Inference: dataset + model + sampling -> records (response, finish reason, token counts, optional logprobs).

Examples are cut into chunks of `chunk_size`; a chunk is written (atomically) when the last of its
examples x n results has come back; resume skips chunks whose file exists. The engine is fed at most
`max_chunks_in_flight` chunks at a time (one `generate` call per window of chunks), so a kill -9 loses at most
that many chunks of work, whatever the backend buffers internally.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

from backends.base import GenerationRequest, GenerationResult
from experiments.datasets import Example, load_examples
from experiments.prompts import render_messages
from experiments.runs.context import StageContext
from experiments.stages.inference.params import sampling_params
from experiments.stages.inference.spec import InferenceSpec


def build_generator(spec: InferenceSpec, ctx: StageContext) -> Any:
    from experiments.engines import open_generator

    return open_generator(spec.backend, spec.model, ctx, tensor_parallel=spec.tensor_parallel,
                          max_prompt_length=spec.max_prompt_length, truncation=spec.truncation)


def chunk_examples(examples: list[Example], size: int) -> list[list[Example]]:
    return [examples[i:i + size] for i in range(0, len(examples), size)]


def record_from(example: Example, result: GenerationResult, spec: InferenceSpec,
                messages: tuple[dict[str, str], ...]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "example_id": example.example_id,
        "sample_idx": result.sample_idx,
        "index": example.index,
        "domain": example.domain,
        "source": example.source,
        "question": example.question,
        "prompt": messages[-1]["content"],
        "gold": example.gold,
        "context": example.context,
        "model": spec.model,
        "response": result.text,
        "finish_reason": result.finish_reason,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "prompt_truncated": result.prompt_truncated,
    }
    if messages[0]["role"] == "system":  # what SFT must train with, so the tuned model sees the same prompt
        record["system_prompt"] = messages[0]["content"]
    if result.logprobs is not None:
        record["logprobs"] = [asdict(lp) for lp in result.logprobs]
    return record


def result_record(spec: InferenceSpec, ctx: StageContext, example: Example, result: GenerationResult,
                  messages: tuple[dict[str, str], ...]) -> dict[str, Any] | None:
    """The record of one result, or None for a failed sample (recorded as a bad item with its reason)."""
    if result.finish_reason != "error":
        return record_from(example, result, spec, messages)
    detail = result.error or ""
    reason = "prompt_too_long" if "max_prompt_length" in detail else "generation_error"
    item = sample_item_id(example.example_id, result.sample_idx, spec.sampling.n)
    ctx.store.add_error(item, reason, detail, stage="inference")
    ctx.emit.item_error(item, reason, detail)
    return None


def run(spec: InferenceSpec, ctx: StageContext,
        open_engine: Callable[[InferenceSpec, StageContext], Any] | None = None) -> None:
    """`open_engine` (default `build_generator`) lets a stage that runs inference inside itself (evaluation)
    share the engine it opens."""
    store, emit = ctx.store, ctx.emit
    loaded = load_examples(spec.dataset)
    ctx.record_load_errors(loaded.errors)
    chunks = chunk_examples(loaded.examples, spec.chunk_size)
    n = spec.sampling.n
    total = len(loaded.examples) * n
    wanted = [spec.chunk_id] if spec.chunk_id is not None else list(range(len(chunks)))
    if spec.chunk_id is not None and spec.chunk_id >= len(chunks):
        raise ValueError(f"chunk_id {spec.chunk_id} is out of range: the dataset has {len(chunks)} chunks")
    store.update_manifest(counts={"examples": len(loaded.examples), "expected_records": total,
                                  "chunks_total": len(chunks), "chunks_target": len(wanted),
                                  "load_errors": len(loaded.errors)})
    mine = [i for i in wanted if ctx.owns(i)]
    todo = [i for i in mine if not store.chunk_done(i)]
    for i in mine:
        if i not in todo:
            emit.chunk(i, "skipped", len(chunks[i]) * n)
    if len(todo) < len(mine):
        emit.log(f"resuming: {len(mine) - len(todo)} of {len(mine)} chunks already done, skipping them")
    emit.log(f"{len(loaded.examples)} examples in {len(chunks)} chunks; this worker computes {len(todo)}")

    def done_on_disk() -> int:
        return sum(len(chunks[i]) * n for i in store.done_chunks() if i < len(chunks))

    emit.progress(done_on_disk(), total, unit="samples", force=True)
    if not todo:
        return
    if spec.ray_address:
        from experiments.stages.inference.ray_exec import run_on_ray

        by_id = {ex.example_id: ex for i in todo for ex in chunks[i]}

        def build_records(index: int, results: list[GenerationResult], messages: dict[str, Any]) -> list[dict]:
            records = (result_record(spec, ctx, by_id[r.key[1]], r, messages[r.key[1]]) for r in results)
            return [r for r in records if r is not None]

        run_on_ray(spec, ctx, chunks, todo, total, done_on_disk, build_records)
        return
    generator = (open_engine or build_generator)(spec, ctx)
    store.update_manifest(backend=generator.describe())
    try:
        stream_chunks(spec, ctx, generator, chunks, todo, total, done_on_disk)
    finally:
        generator.close()


def requests_for(chunks: list[list[Example]], todo: list[int], spec: InferenceSpec,
                 messages: dict[str, tuple[dict[str, str], ...]]) -> Iterator[GenerationRequest]:
    for i in todo:
        for example in chunks[i]:
            msgs = render_messages(example, spec.dataset.template, spec.dataset.system_prompt)
            messages[example.example_id] = msgs
            yield GenerationRequest(key=(i, example.example_id), messages=msgs)


def sample_item_id(example_id: str, sample_idx: int, n: int) -> str:
    """The id a failed sample is recorded under: the example's own id when it has one sample."""
    return example_id if n == 1 else f"{example_id}#{sample_idx}"


class ChunkAssembler:
    """Collects results into their chunks, records failed samples, writes a chunk when its last result lands."""

    def __init__(self, spec: InferenceSpec, ctx: StageContext, chunks: list[list[Example]], todo: list[int],
                 total: int, done_on_disk: Any) -> None:
        self.spec, self.ctx, self.chunks, self.total, self.done_on_disk = spec, ctx, chunks, total, done_on_disk
        self.n = spec.sampling.n
        self.by_id = {ex.example_id: ex for i in todo for ex in chunks[i]}
        self.pending: dict[int, list[dict[str, Any]]] = {i: [] for i in todo}
        self.remaining = {i: len(chunks[i]) * self.n for i in todo}
        self.messages: dict[str, tuple[dict[str, str], ...]] = {}
        self.in_flight = 0
        self.base_done = done_on_disk()  # refreshed when a chunk lands (other workers' chunks count too)
        self.started, self.generated = time.monotonic(), 0

    def take(self, result: GenerationResult) -> None:
        store, emit = self.ctx.store, self.ctx.emit
        chunk_index, example_id = result.key
        self.remaining[chunk_index] -= 1
        self.in_flight += 1
        record = result_record(self.spec, self.ctx, self.by_id[example_id], result, self.messages[example_id])
        if record is not None:
            self.pending[chunk_index].append(record)
            self.generated += result.completion_tokens
        landed = self.remaining[chunk_index] == 0
        if landed:
            written = store.write_chunk(chunk_index, self.pending.pop(chunk_index))
            self.in_flight -= len(self.chunks[chunk_index]) * self.n
            emit.chunk(chunk_index, "computed", written)
            self.base_done = self.done_on_disk()
        elapsed = time.monotonic() - self.started
        # A landed chunk is always shown: a batch's results come in one burst, and the engine may then be silent
        # for minutes, which would leave a coalesced progress event unwritten (the CLI stuck at the burst's first).
        emit.progress(self.base_done + self.in_flight, self.total, unit="samples", force=landed)
        if elapsed > 0:
            emit.metric("tokens_per_s", self.generated / elapsed, force=landed)


def stream_chunks(spec: InferenceSpec, ctx: StageContext, generator: Any, chunks: list[list[Example]],
                  todo: list[int], total: int, done_on_disk: Any) -> None:
    """Feed the engine `max_chunks_in_flight` chunks at a time; each window finishes before the next starts."""
    emit = ctx.emit
    assembler = ChunkAssembler(spec, ctx, chunks, todo, total, done_on_disk)
    params = sampling_params(spec)
    step = spec.chunks_in_flight()
    ctx.store.update_manifest(chunks_in_flight=step)
    for start in range(0, len(todo), step):
        window = todo[start:start + step]
        for result in generator.generate(requests_for(chunks, window, spec, assembler.messages), params):
            assembler.take(result)
    elapsed = max(1e-9, time.monotonic() - assembler.started)
    emit.metric("tokens_per_s", assembler.generated / elapsed, force=True)
    emit.metric("generated_tokens", assembler.generated, force=True)
    emit.progress(done_on_disk(), total, unit="samples", force=True)


def finalize(spec: InferenceSpec, ctx: StageContext) -> dict[str, Any]:
    records = ctx.store.records()
    keys = {(r["example_id"], r["sample_idx"]) for r in records}
    summary = {
        "records": len(records),
        "unique_records": len(keys),
        "finish_reasons": _count(r.get("finish_reason") for r in records),
        "completion_tokens": sum(int(r.get("completion_tokens", 0)) for r in records),
        "errors": len(ctx.store.errors()),
    }
    return summary


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return counts
