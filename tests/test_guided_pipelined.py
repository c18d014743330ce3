"""The pipelined guided schedule (each row moves on its own, one engine thread per engine) writes what the lockstep
schedule writes, token for token: segments, consultation points, statistics probes, EOS and budget ends.

The engines here are deterministic stand-ins with vLLM's `LLMEngine` surface (add_request / step / abort_request):
each writes tokens as a function of the whole context, so any slip in a row's context, budget or order of steps
changes its text. The real engine runs the same comparison in `test_guided_served.py` (vLLM on the CPU, slow).
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest

from backends.guided.session import GuidedLoop, GuidedParams
from experiments.stages.guided.policies import make_policy

PROMPTS = ["What is two plus three?", "The quick brown fox", "Numbers: 1 2 3 4", "Say hi", "Tell me", "Why?"]


class FakeEngine:
    """Writes token f(context) one per step for every request in flight; EOS where f says so (unless ignored)."""

    def __init__(self, salt: int, eos: int) -> None:
        self.salt, self.eos, self.live, self.steps = salt, eos, {}, 0
        self.engine_core = SimpleNamespace()  # no pause utility: the driver adds requests plainly

    def next_token(self, ids: list[int]) -> int:
        h = (sum(ids[-3:]) * 31 + len(ids) * self.salt) % 9973
        return self.eos if h % 37 == 0 else 100 + h % 400

    def add_request(self, rid: str, prompt: dict[str, Any], params: Any) -> None:
        self.live[rid] = (list(prompt["prompt_token_ids"]), [], params)

    def abort_request(self, rids: list[str]) -> None:
        for rid in rids:
            self.live.pop(rid, None)

    def step(self) -> list[Any]:
        self.steps += 1
        done = []
        for rid, (ctx, out, params) in list(self.live.items()):
            tok = self.next_token(ctx + out)
            if tok == self.eos and params.ignore_eos:
                tok = self.eos + 1
            out.append(tok)
            if tok == self.eos or len(out) >= params.max_tokens:
                del self.live[rid]
                h = sum(ctx + out) % 7
                logprobs = [{tok: SimpleNamespace(logprob=-0.05 * (1 + h)), tok + 1: SimpleNamespace(logprob=-2.0)}
                            for tok in out] if params.logprobs else None
                comp = SimpleNamespace(token_ids=out, finish_reason="stop" if tok == self.eos else "length",
                                       stop_reason=None, logprobs=logprobs)
                done.append(SimpleNamespace(request_id=rid, finished=True, outputs=[comp]))
        return done


def fake_session(engine: FakeEngine, tokenizer: Any) -> Any:
    from backends.guided.served_session import VLLMSession
    from backends.guided.vllm_driver import EngineDriver

    session = VLLMSession.__new__(VLLMSession)  # the real session around a stand-in engine
    session.llm, session.tokenizer, session.model_name = SimpleNamespace(llm_engine=engine), tokenizer, "fake"
    session.generator, session.owner = None, False
    session.driver = EngineDriver(session.llm)
    session._params = lambda budget, offset, ignore_eos, logprobs: SimpleNamespace(  # no vllm import needed
        max_tokens=budget, ignore_eos=ignore_eos, logprobs=logprobs)
    return session


def run(tokenizer: Any, policy: Any, params: GuidedParams) -> tuple[list[Any], int]:
    eos = int(tokenizer.eos_token_id)
    base, oracle = FakeEngine(3, eos), FakeEngine(5, eos)
    seqs = GuidedLoop(fake_session(base, tokenizer), fake_session(oracle, tokenizer), policy, params).run(PROMPTS)
    return seqs, base.steps + oracle.steps


def view(seqs: list[Any]) -> list[Any]:
    return [(s.finish_reason, s.cheat_positions, [(p.token_id, p.source, p.text, round(p.stats.get("entropy", -1), 6),
                                                    p.stats.get("consult")) for p in s.pieces]) for s in seqs]


@pytest.mark.parametrize("policy,options,ignore_eos", [
    ("always", {}, False),
    ("entropy", {"threshold": 0.35}, False),  # needs the base's statistics: a probe at each decision point
    ("random_rising", {}, True),
])
def test_pipelined_rows_write_what_lockstep_writes(embedded_model: str, policy: str, options: dict[str, Any],
                                                   ignore_eos: bool) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(embedded_model)
    params = GuidedParams(c=3, k=4, step_size=5, max_new_tokens=40, ignore_eos=ignore_eos, token_stats=False)
    lockstep, _ = run(tok, make_policy(policy, **options), params)
    pipelined, steps = run(tok, make_policy(policy, **options), GuidedParams(**{**params.__dict__, "pipelined": True}))
    assert view(pipelined) == view(lockstep)
    assert steps > 0
    consults = sum(s.consultations for s in lockstep)
    assert 0 < consults < 3 * len(PROMPTS) or policy == "always"
    if not ignore_eos:
        assert {s.finish_reason for s in lockstep} == {"stop", "length"}, "both ends must occur"
    if policy == "entropy":
        picked = [p.stats["entropy"] for s in lockstep for p in s.pieces if p.stats.get("consult")]
        assert picked and all(math.isfinite(e) and e > 0.35 for e in picked)
