"""Per-record evaluation: the grader's verdict, the final confidence token, and P(confident).

P(confident) comes from the engine's top-k logprobs at the token's position when both tokens of the pair are
there, and otherwise from a scoring pass (`backends.scoring`): the prompt and the response before the token
(or the whole response, where a token is missing) teacher-forced through the hf model with the adapter.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from experiments.grading import GradingPool
from experiments.runs.context import StageContext
from experiments.stages.evaluation.metrics import at_threshold
from experiments.stages.evaluation.spec import EvaluationSpec
from experiments.stages.tagging.tokens import (
    ParsedToken,
    parse_final_token,
    record_token_domain,
    strip_tokens,
    token_domain,
    token_pair,
)


def p_from_logprobs(logprobs: list[dict[str, Any]] | None, pair: tuple[str, str]) -> tuple[float | None, dict]:
    """(P(confident), the top-k at that position) from the last generated position whose top-k (or sampled
    token) holds a token of the pair; P is None unless both tokens are in that top-k."""
    from backends.scoring import pair_probability

    for entry in reversed(logprobs or []):
        top: dict[str, float] = {}
        for text, value in {**(entry.get("top") or {}), str(entry.get("token", "")): entry.get("logprob")}.items():
            if value is not None and text.strip() in pair:
                top[text.strip()] = max(float(value), top.get(text.strip(), float("-inf")))
        if top:
            if pair[0] in top and pair[1] in top:
                return pair_probability(top[pair[0]], top[pair[1]]), top
            return None, top
    return None, {}


class Evaluator:
    """Grades, parses and scores one chunk of records at a time; owns the grading pool and the lazy scorer."""

    def __init__(self, spec: EvaluationSpec, ctx: StageContext, scoring_model: str, adapter: str | None,
                 system_prompt: str | None, threshold: float | None = None) -> None:
        self.spec, self.ctx, self.threshold = spec, ctx, threshold
        self.scoring_model, self.adapter, self.system_prompt = scoring_model, adapter, system_prompt
        self.pool = GradingPool(workers=spec.grade_workers, timeout=spec.grade_timeout)
        self._scorer: Any = None
        self._scorer_failed = False

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.close()
        if self._scorer is not None:
            self._scorer.close()

    def share_engine(self, generator: Any) -> None:
        """Score with the hf generator that writes the answers (same model and adapter), not a second copy."""
        from backends.scoring import ConfidenceScorer

        if self._scorer is None:
            self._scorer = ConfidenceScorer(generator=generator, batch_size=self.spec.scoring_batch_size)
            self.ctx.store.update_manifest(scoring=self._scorer.describe())

    def scorer(self) -> Any:
        if self._scorer is None and not self._scorer_failed:
            from backends.scoring import ConfidenceScorer

            try:
                self._scorer = ConfidenceScorer(self.scoring_model, adapter=self.adapter,
                                                device=self.spec.scoring_device,
                                                batch_size=self.spec.scoring_batch_size,
                                                progress=lambda msg: self.ctx.emit.log(msg))
            except Exception as exc:  # noqa: BLE001 - a model we cannot load locally: P stays unknown
                if self.spec.p_confident == "scoring":
                    raise
                self._scorer_failed = True
                self.ctx.emit.log(f"no scoring pass ({self.scoring_model}: {exc}); P(confident) only from "
                                  "logprobs", level="warning")
                return None
            self.ctx.store.update_manifest(scoring=self._scorer.describe())
        return self._scorer

    def evaluate(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from experiments.stages.grading.run import grade_records

        graded = grade_records(self.pool, records, self.ctx, self.spec.domain,
                               text=lambda r: strip_tokens(str(r.get("response") or "")))
        parsed = [parse_final_token(str(r.get("response") or "")) for r in graded]
        style = self.missing_style(parsed)
        out = [self.with_token(r, t, style) for r, t in zip(graded, parsed, strict=True)]
        if self.spec.p_confident in ("auto", "scoring"):
            self.score_missing(out, parsed)
        if self.threshold is not None:  # beside the written token, never instead of it
            decided = at_threshold([r["p_confident"] for r in out], [r["confident"] for r in out], self.threshold)
            for r, confident in zip(out, decided, strict=True):
                r["confident_at_threshold"] = confident
        return out

    def missing_style(self, parsed: list[ParsedToken | None]) -> str:
        if self.spec.style != "auto":
            return self.spec.style
        styles = Counter(t.style for t in parsed if t is not None)
        return styles.most_common(1)[0][0] if styles else "angle"

    def with_token(self, record: dict[str, Any], token: ParsedToken | None, style: str) -> dict[str, Any]:
        pair = token.pair if token else token_pair(token_domain(record_token_domain(record)), style)
        logprobs = record.pop("logprobs", None)
        out = {**record, "confidence_token": token.text if token else None,
               "confident": token.confident if token else None, "token_pair": list(pair),
               "p_confident": None, "p_source": None}
        if self.spec.p_confident in ("auto", "logprobs") and token is not None:
            p, top = p_from_logprobs(logprobs, pair)
            out["token_top_logprobs"] = top
            if p is not None:
                out["p_confident"], out["p_source"] = p, "logprobs"
        out["calibrated"] = out["confident"] is not None and bool(out["confident"]) == bool(out["correct"])
        return out

    def score_missing(self, records: list[dict[str, Any]], parsed: list[ParsedToken | None]) -> None:
        from backends.scoring import ScoreItem

        todo = [(r, t) for r, t in zip(records, parsed, strict=True) if r["p_confident"] is None]
        if not todo or self.scorer() is None:
            return
        items = []
        for r, t in todo:
            response = str(r.get("response") or "")
            prefix = response[:t.start] if t else response.rstrip() + " "  # where tagging puts the token
            messages = ([{"role": "system", "content": self.system_prompt}] if self.system_prompt else []) + \
                [{"role": "user", "content": str(r.get("prompt") or r.get("question") or "")}]
            items.append(ScoreItem(tuple(messages), prefix, (r["token_pair"][0], r["token_pair"][1])))
        for (r, _), p in zip(todo, self._scorer.score(items), strict=True):
            if p is not None:
                r["p_confident"], r["p_source"] = p, "scoring"
