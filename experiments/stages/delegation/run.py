"""Delegation: an evaluation run -> per answer, the big model's answer where it is needed, graded and priced.

Chunks mirror the evaluation run's. The big model's answers come from `oracle_run` when it answered that
example already (reused, never re-asked), otherwise from the oracle engine (`experiments.engines.open_generator`,
opened only when something is left to ask); both are graded by the same graders as the small model. Tables
(hand-off breakdown, performance, the threshold sweep and the picked point) are computed in `finalize`.
"""

from __future__ import annotations

from typing import Any

from backends.base import GenerationRequest
from experiments.runs.context import StageContext
from experiments.runs.store import RunStore
from experiments.stages.delegation.spec import DelegationSpec
from experiments.stages.delegation.tables import Answer, Rule


def oracle_index(spec: DelegationSpec, ctx: StageContext) -> dict[str, dict[str, Any]]:
    """The big model's earlier answers by example id (its first sample)."""
    if not spec.oracle_run:
        return {}
    index: dict[str, dict[str, Any]] = {}
    for r in ctx.input_store(spec.oracle_run).iter_records():
        if int(r.get("sample_idx", 0)) == 0:
            index.setdefault(str(r["example_id"]), r)
    return index


def answer_of(record: dict[str, Any]) -> Answer:
    return Answer(f"{record['example_id']}#{record.get('sample_idx', 0)}", bool(record.get("correct")),
                  record.get("confident"), record.get("p_confident"), 0.0)


class Oracle:
    """Asks the big model (lazily opening its engine) and grades its answers."""

    def __init__(self, spec: DelegationSpec, ctx: StageContext) -> None:
        from experiments.grading import GradingPool

        self.spec, self.ctx = spec, ctx
        self.pool = GradingPool(workers=spec.grade_workers, timeout=spec.grade_timeout)
        self.generator: Any = None

    def close(self) -> None:
        self.pool.close()
        if self.generator is not None:
            self.generator.close()

    def messages(self, record: dict[str, Any]) -> tuple[dict[str, str], ...]:
        system = [{"role": "system", "content": self.spec.oracle_system_prompt}] if self.spec.oracle_system_prompt \
            else []
        return tuple([*system, {"role": "user", "content": str(record.get("prompt") or record.get("question"))}])

    def ask(self, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """example id -> the big model's record (response, tokens, finish reason) for these questions."""
        if not records:
            return {}
        from experiments.engines import open_generator
        from experiments.stages.inference.params import params_of

        if not self.spec.oracle_model:
            raise ValueError("delegation needs oracle_model to ask the big model (or an oracle_run to reuse)")
        if self.generator is None:
            self.generator = open_generator(self.spec.oracle_backend, self.spec.oracle_model, self.ctx)
            self.ctx.store.update_manifest(oracle_backend=self.generator.describe())
        requests = [GenerationRequest(key=str(r["example_id"]), messages=self.messages(r)) for r in records]
        answers: dict[str, dict[str, Any]] = {}
        for result in self.generator.generate(requests, params_of(self.spec.oracle_sampling)):
            if result.sample_idx == 0:
                answers[result.key] = {"response": result.text, "finish_reason": result.finish_reason,
                                       "prompt_tokens": result.prompt_tokens,
                                       "completion_tokens": result.completion_tokens, "error": result.error}
        return answers

    def grade(self, records: list[dict[str, Any]], answers: list[dict[str, Any]]) -> list[bool | None]:
        """Verdicts of the big model's answers to `records`' questions (a failed answer counts as wrong)."""
        from experiments.stages.grading.run import grade_records

        pending = [(r, a) for r, a in zip(records, answers, strict=True) if a.get("correct") is None]
        if not pending:  # every answer came graded (an earlier graded run of the big model)
            return [a.get("correct") for a in answers]
        graded = grade_records(self.pool, [{**r, "response": a.get("response", "")} for r, a in pending], self.ctx)
        verdicts = {id(a): g.get("correct") for (_, a), g in zip(pending, graded, strict=True)}
        return [a.get("correct") if id(a) not in verdicts else verdicts[id(a)] for a in answers]


def rule_of(spec: DelegationSpec, evaluation: RunStore) -> Rule:
    """The spec's threshold if it has one; else the evaluation run's own (chosen on a calibration split), with its
    calibrated rule; else the tokens alone. Read from the finished evaluation run: the same on every resume."""
    if spec.threshold is not None:
        return Rule(spec.threshold, source="spec")
    threshold = (evaluation.manifest().get("summary") or {}).get("threshold")
    if threshold is not None:
        return Rule(float(threshold), calibrated=True, source=evaluation.run_id)
    return Rule()


def needs_oracle(record: dict[str, Any], spec: DelegationSpec, rule: Rule) -> bool:
    return spec.scope == "all" or rule.delegates(answer_of(record))


def delegation_chunk(records: list[dict[str, Any]], spec: DelegationSpec, ctx: StageContext, oracle: Oracle,
                     reuse: dict[str, dict[str, Any]], rule: Rule) -> list[dict[str, Any]]:
    wanted = [r for r in records if needs_oracle(r, spec, rule)]
    fresh = oracle.ask([r for r in {str(r["example_id"]): r for r in wanted}.values()
                        if str(r["example_id"]) not in reuse])
    for key, answer in fresh.items():
        if answer["finish_reason"] == "error":
            ctx.store.add_error(key, "oracle_error", str(answer.get("error") or ""), stage="delegation")
            ctx.emit.item_error(key, "oracle_error", str(answer.get("error") or ""))
    found = [(r, reuse.get(str(r["example_id"])) or fresh.get(str(r["example_id"]))) for r in wanted]
    found = [(r, a) for r, a in found if a is not None]
    verdicts = oracle.grade([r for r, _ in found], [a for _, a in found])
    by_key = {id(r): (a, v) for (r, a), v in zip(found, verdicts, strict=True)}
    out = []
    for r in records:
        a, verdict = by_key.get(id(r), (None, None))
        out.append({**{k: r.get(k) for k in KEPT}, "delegated": rule.delegates(answer_of(r)),
                    "oracle_model": spec.oracle_model or None,
                    "oracle_source": None if a is None else ("reused" if str(r["example_id"]) in reuse else "asked"),
                    "oracle_response": None if a is None else a.get("response"),
                    "oracle_correct": None if a is None else bool(verdict),
                    "oracle_prompt_tokens": None if a is None else int(a.get("prompt_tokens") or 0),
                    "oracle_completion_tokens": None if a is None else int(a.get("completion_tokens") or 0)})
    return out


KEPT = ("example_id", "sample_idx", "domain", "source", "question", "prompt", "gold", "model", "response",
        "correct", "confidence_token", "confident", "p_confident", "confident_at_threshold", "prompt_tokens",
        "completion_tokens")


def run(spec: DelegationSpec, ctx: StageContext) -> None:
    from experiments.stages.mirror import map_chunks

    source = ctx.input_store(spec.input_run)
    rule = rule_of(spec, source)
    ctx.emit.log(f"delegating: {rule.describe()}")
    reuse = oracle_index(spec, ctx)
    ctx.emit.log(f"{len(reuse)} answers of the big model to reuse from {spec.oracle_run or '(no oracle run)'}")
    oracle = Oracle(spec, ctx)
    try:
        map_chunks(source, ctx, lambda records: delegation_chunk(records, spec, ctx, oracle, reuse, rule),
                   inputs=[source.run_id, *([spec.oracle_run] if spec.oracle_run else [])])
    finally:
        oracle.close()


def finalize(spec: DelegationSpec, ctx: StageContext) -> dict[str, Any]:
    from experiments.exports import write_json
    from experiments.stages.delegation.report import delegation_report

    rule = rule_of(spec, ctx.input_store(spec.input_run))
    report = delegation_report(ctx.store.records(), spec, source_model(spec, ctx.store), rule)
    path = write_json(ctx.store.output_path("delegation.json"), report)
    ctx.emit.artifact(str(path), "json")
    overall = report["handoff"][-1]
    ctx.emit.metric("accuracy", overall["accuracy"] or 0.0, force=True)
    ctx.emit.metric("cost", overall["cost"], force=True)
    return {k: v for k, v in report.items() if k != "sweep"}


def source_model(spec: DelegationSpec, store: RunStore) -> str:
    if spec.small_model:
        return spec.small_model
    for r in store.iter_records():
        return str(r.get("model") or "small model")
    return "small model"
