"""LLM judging: an inference (or graded) run's records -> JSON verdicts from a judge model, usage and cost.

Chunks mirror the input run's chunks (resume skips done ones) and are judged `chunks_in_flight` at a time (the
manifest records the bound: a kill -9 loses at most those). Requests stream through one `Generator` in
rounds: round 0 asks every pending record; a record whose verdict doesn't parse is re-asked (the bad reply
shown back, temperature bumped) in the next round, up to `parse_retries` times, then kept as `invalid_json`
with an `invalid_verdict` error: it is never counted as right or wrong. Structured output (a JSON schema) is
sent where asked; a server that rejects it (HTTP 400/422) gets the same record again without it, and once
such a plain retry succeeds the rest of the run asks without it.

API failures (after the backend's own retries) keep the record with `judge_status="error"` and a
`judge_api_error` item error. A resume re-asks exactly those records (the chunk's good verdicts are kept);
`resume --force` redoes everything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from backends.base import GenerationRequest, GenerationResult, SamplingParams
from experiments.pricing import Price, describe, price_for
from experiments.runs.context import StageContext
from experiments.stages.judging.parse import Verdict, parse_verdict
from experiments.stages.judging.prompt import judge_messages, structured_body
from experiments.stages.judging.spec import JudgingSpec

RAW_CHARS = 2000  # judge_raw is kept for debugging, not as a transcript
JUDGE_FIELDS = ("judge_correct", "judge_model_answer", "judge_correct_answer", "judge_reasoning",
                "judge_status", "judge_raw", "judge_model", "judge_prompt_tokens", "judge_completion_tokens",
                "judge_cost", "judge_attempts", "judge_error")
REJECTED = ("HTTP 400", "HTTP 422")  # the server refused the request as sent (e.g. unknown response_format)


@dataclass
class Item:
    """One record being judged, across its attempts (tokens of every attempt are paid for, so all count)."""

    chunk: int
    record: dict[str, Any]
    attempt: int = 0  # parse re-asks so far
    previous: list[str] = field(default_factory=list)
    plain: bool = False  # structured output was rejected for this record: ask without it
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def item_id(self) -> str:
        return f"{self.record.get('example_id')}#{self.record.get('sample_idx', 0)}"


def resolve_price(spec: JudgingSpec, ctx: StageContext | None = None) -> Price:
    try:
        return price_for(spec.model, spec.prices)
    except ValueError as exc:  # a broken config file must not kill the run: say so and ignore it
        if ctx is not None:
            ctx.emit.log(f"ignoring the config price table: {exc}", "warning")
        return price_for(spec.model, spec.prices, config={})


class Judge:
    """One worker's judging session: generators, the chunks in flight and live usage."""

    def __init__(self, spec: JudgingSpec, ctx: StageContext, price: Price, total: int, done: int) -> None:
        self.spec, self.ctx, self.price = spec, ctx, price
        self.total, self.done = total, done
        self.structured = spec.structured_output and spec.backend.kind == "openai_compat"
        self.structured_rejected = False
        self.generators: dict[bool, Any] = {}
        self.out: dict[int, list[dict[str, Any]]] = {}
        self.remaining: dict[int, int] = {}
        self.started = time.monotonic()
        self.finished = self.prompt_tokens = self.completion_tokens = self.reasks = self.invalid = 0

    # -- generators ---------------------------------------------------------------------------------------
    def generator(self, structured: bool) -> Any:
        if structured not in self.generators:
            from experiments.engines import open_generator

            spec, ctx = self.spec, self.ctx
            extra: dict[str, Any] = {}
            if spec.backend.kind == "openai_compat":
                extra["concurrency"] = spec.backend.options.get("concurrency", spec.num_workers)
                if structured:
                    extra["extra_body"] = {**spec.backend.options.get("extra_body", {}),
                                           **structured_body(spec.structured_format)}
            gen = open_generator(spec.backend, spec.model, ctx, extra_options=extra)
            if not self.generators:
                ctx.store.update_manifest(backend=gen.describe())
            self.generators[structured] = gen
        return self.generators[structured]

    def close(self) -> None:
        for gen in self.generators.values():
            gen.close()
        self.generators.clear()

    def uses_structured(self, item: Item) -> bool:
        return self.structured and not item.plain and not self.structured_rejected

    def temperature(self, attempt: int) -> float:
        """A re-ask at the same temperature (and greedy at 0) would likely repeat the same bad reply."""
        t = self.spec.temperature
        return t if attempt == 0 else max(t, min(1.0, t + 0.3 * attempt))

    # -- the rounds -----------------------------------------------------------------------------------------
    def add_chunk(self, index: int, kept: list[dict[str, Any]], items: list[Item]) -> None:
        self.out[index] = list(kept)
        self.remaining[index] = len(items)
        if not items:
            self.write(index)

    def judge(self, queue: list[Item]) -> None:
        while queue:
            groups: dict[tuple[bool, int], list[Item]] = {}
            for item in queue:
                groups.setdefault((self.uses_structured(item), item.attempt), []).append(item)
            queue = []
            for (structured, attempt), items in sorted(groups.items()):
                params = SamplingParams(n=1, temperature=self.temperature(attempt),
                                        max_tokens=self.spec.max_tokens, seed=0)
                by_key = {(it.chunk, it.item_id, attempt, structured): it for it in items}
                requests = (GenerationRequest(key=key, messages=judge_messages(it.record, it.previous))
                            for key, it in by_key.items())
                for result in self.generator(structured).generate(requests, params):
                    item = by_key[result.key]
                    if self.handle(item, result, structured):
                        queue.append(item)

    def handle(self, item: Item, result: GenerationResult, structured: bool) -> bool:
        """Book one reply; True when the record must be asked again."""
        item.prompt_tokens += result.prompt_tokens
        item.completion_tokens += result.completion_tokens
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens
        emit = self.ctx.emit
        if result.finish_reason == "error":
            error = result.error or "unknown error"
            if structured and any(code in error for code in REJECTED):
                if not item.plain:
                    emit.log(f"{item.item_id}: the server rejected structured output ({error[:200]}); "
                             "asking again without it", "warning")
                item.plain = True
                return True
            self.finish(item, "error", None, "", error)
            return False
        if item.plain and not self.structured_rejected:
            self.structured_rejected = True
            emit.log("the server doesn't support structured output: asking without it from now on", "warning")
        verdict = parse_verdict(result.text)
        if verdict.ok:
            self.finish(item, "ok", verdict, result.text)
            return False
        if item.attempt < self.spec.parse_retries:
            item.previous.append(result.text)
            item.attempt += 1
            self.reasks += 1
            emit.metric("judge_retries", self.reasks)
            return True
        self.finish(item, "invalid_json", verdict, result.text)
        return False

    def finish(self, item: Item, status: str, verdict: Verdict | None, raw: str, error: str = "") -> None:
        store, emit = self.ctx.store, self.ctx.emit
        fields = judge_fields(verdict, status, raw, error, self.spec.model, item, self.price)
        record = {**item.record, **fields}
        self.out[item.chunk].append(record)
        if status == "invalid_json":
            self.invalid += 1
            store.add_error(item.item_id, "invalid_verdict", raw[:500], stage="judging")
            emit.item_error(item.item_id, "invalid_verdict", raw[:500])
            emit.metric("judge_invalid", self.invalid)
        elif status == "error":
            store.add_error(item.item_id, "judge_api_error", error, stage="judging")
            emit.item_error(item.item_id, "judge_api_error", error)
        self.finished += 1
        self.done += 1
        self.remaining[item.chunk] -= 1
        if self.remaining[item.chunk] == 0:
            self.write(item.chunk)
        self.metrics()

    def write(self, index: int) -> None:
        written = self.ctx.store.write_chunk(index, self.out.pop(index))
        self.remaining.pop(index, None)
        self.ctx.emit.chunk(index, "computed", written)

    def metrics(self, force: bool = False) -> None:
        emit = self.ctx.emit
        emit.progress(self.done, self.total, unit="verdicts", force=force)
        elapsed = max(1e-9, time.monotonic() - self.started)
        emit.metric("judge_answers_per_s", self.finished / elapsed, force=force)
        emit.metric("judge_prompt_tokens", self.prompt_tokens, force=force)
        emit.metric("judge_completion_tokens", self.completion_tokens, force=force)
        cost = self.price.cost(self.prompt_tokens, self.completion_tokens)
        emit.metric("judge_cost_usd", cost, force=force)
        if force:
            emit.metric("judge_retries", self.reasks, force=True)
            emit.metric("judge_invalid", self.invalid, force=True)
            http = sum(int(getattr(g, "usage", {}).get("retries", 0)) for g in self.generators.values())
            emit.metric("judge_http_retries", http, force=True)


def judge_fields(verdict: Verdict | None, status: str, raw: str, error: str, model: str, item: Item,
                 price: Price) -> dict[str, Any]:
    ok = verdict is not None and verdict.ok
    return {
        "judge_correct": verdict.correct if ok and verdict is not None else None,
        "judge_model_answer": verdict.model_answer if ok and verdict is not None else None,
        "judge_correct_answer": verdict.correct_answer if ok and verdict is not None else None,
        "judge_reasoning": verdict.reasoning if ok and verdict is not None else None,
        "judge_status": status,
        "judge_raw": raw[:RAW_CHARS],
        "judge_model": model,
        "judge_prompt_tokens": item.prompt_tokens,
        "judge_completion_tokens": item.completion_tokens,
        "judge_cost": price.cost(item.prompt_tokens, item.completion_tokens),
        "judge_attempts": item.attempt + 1,
        "judge_error": error or None,
    }


def strip_judge(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in JUDGE_FIELDS}


def run(spec: JudgingSpec, ctx: StageContext) -> None:
    store, emit = ctx.store, ctx.emit
    source = ctx.input_store(spec.input_run)
    in_chunks = source.done_chunks()
    total = source.record_count()
    counts = {"chunks_total": len(in_chunks), "chunks_target": len(in_chunks), "input_records": total,
              "expected_records": total}
    store.update_manifest(inputs=[source.run_id], counts=counts)
    price = resolve_price(spec, ctx)
    store.update_manifest(price=price.as_dict())
    emit.log(f"judge price: {describe(price)}")
    plan: list[tuple[int, list[dict[str, Any]], list[Item]]] = []
    done = 0
    for i in in_chunks:
        if not ctx.owns(i):
            continue
        if not store.chunk_done(i):
            plan.append((i, [], [Item(i, strip_judge(r)) for r in source.read_chunk(i)]))
            continue
        records = store.read_chunk(i)
        redo = [r for r in records if r.get("judge_status") == "error"]
        done += len(records) - len(redo)
        if redo:
            kept = [r for r in records if r.get("judge_status") != "error"]
            plan.append((i, kept, [Item(i, strip_judge(r)) for r in redo]))
        else:
            emit.chunk(i, "skipped", len(records))
    redo_count = sum(len(items) for _, kept, items in plan if kept)
    emit.log(f"judging {total} records of {source.run_id} with {spec.model}: {len(plan)} chunks to do"
             + (f" ({redo_count} API errors to retry)" if redo_count else ""))
    emit.progress(done, total, unit="verdicts", force=True)
    if not plan:
        return
    judge = Judge(spec, ctx, price, total, done)
    per_chunk = max((len(items) for _, _, items in plan), default=1)
    step = spec.chunks_in_flight(per_chunk)
    store.update_manifest(chunks_in_flight=step)
    try:
        for start in range(0, len(plan), step):  # a window's chunks are written before the next one starts
            queue: list[Item] = []
            for index, kept, items in plan[start:start + step]:
                judge.add_chunk(index, kept, items)
                queue += items
            judge.judge(queue)
    finally:
        judge.metrics(force=True)
        judge.close()


def finalize(spec: JudgingSpec, ctx: StageContext) -> dict[str, Any]:
    from experiments.exports import write_json
    from experiments.report.accuracy import accuracy_table
    from experiments.stages.judging.agreement import agreement_table

    records = ctx.store.records()
    statuses: dict[str, int] = {}
    for r in records:
        statuses[str(r.get("judge_status"))] = statuses.get(str(r.get("judge_status")), 0) + 1
    price = resolve_price(spec, ctx)
    prompt = sum(int(r.get("judge_prompt_tokens") or 0) for r in records)
    completion = sum(int(r.get("judge_completion_tokens") or 0) for r in records)
    judged = [r for r in records if r.get("judge_correct") is not None]
    summary: dict[str, Any] = {
        "records": len(records),
        "judge_model": spec.model,
        "statuses": statuses,
        "judge_accuracy": sum(1 for r in judged if r["judge_correct"]) / len(judged) if judged else None,
        "accuracy": accuracy_table(records, field="judge_correct"),
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "attempts": sum(int(r.get("judge_attempts") or 0) for r in records),
                  "cost_usd": sum(float(r.get("judge_cost") or 0.0) for r in records)},
        "price": price.as_dict(),
    }
    if any(r.get("correct") is not None for r in records):
        table = agreement_table(records)
        path = write_json(ctx.store.output_path("agreement.json"), table)
        ctx.emit.artifact(str(path), "json", {"agreement": table["agreement"], "kappa": table["kappa"]})
        summary["agreement"] = {k: v for k, v in table.items() if k != "by_domain"}
        summary["rule_accuracy"] = accuracy_table(records, field="correct")
    return summary
