"""Guided decoding engine (hf): cache reuse against a full re-encode reference, budgets, thresholds, hand-over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.guided.handover import decode
from backends.guided.session import GuidedLoop, GuidedParams, RowView
from experiments.stages.guided.policies import make_policy
from tests.guided_models import bpe_tokenizer, tiny_llama

PROMPTS = ["What is two plus three?", "The quick brown fox", "Numbers: 1 2 3 4 5 6 7 8 9 10 11 12 and so on, say"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread: None) -> None:
    """Tiny models: one intra-op thread (see conftest)."""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, embedded_model: str) -> dict[str, str]:
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("guided_models")
    shared = AutoTokenizer.from_pretrained(embedded_model)
    return {
        "base": tiny_llama(root / "base", shared, seed=0),
        "oracle": tiny_llama(root / "oracle", shared, hidden=48, layers=3, heads=6, kv_heads=3, seed=1),
        "other": tiny_llama(root / "other", bpe_tokenizer(), hidden=32, layers=2, seed=2),
    }


def session(path: str, **kw: Any) -> Any:
    from backends.guided.hf_session import HFSession

    return HFSession(path, device="cpu", **kw)


class Recording:
    """Wraps a policy and records every decision point: (row, position, used, stats, answer)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.needs_stats, self.oracle_only = inner, True, inner.oracle_only
        self.seen: list[tuple[int, int, int, dict[str, float], bool]] = []

    def consult(self, view: RowView) -> bool:
        answer = self.inner.consult(view)
        self.seen.append((view.row, view.position, view.used, dict(view.stats), answer))
        return answer


def reference(base: Any, oracle: Any, prompt: str, params: GuidedParams, policy: Any) -> tuple[list, list]:
    """The slow loop: every token re-encodes the whole text (no cache), one prompt at a time."""
    import torch

    from backends.guided.stats import logit_stats

    ids = base.render(prompt)
    answer: list[tuple[int, str]] = []
    cheats: list[int] = []

    def next_logits(model: Any) -> Any:
        with torch.no_grad():
            return model.model(torch.tensor([ids + [t for t, _ in answer]])).logits[0, -1]

    def write(model: Any, source: str, n: int) -> bool:
        for _ in range(min(n, params.max_new_tokens - len(answer))):
            tok = int(next_logits(model).argmax())
            if tok in model.eos_ids:
                return True
            answer.append((tok, source))
        return len(answer) >= params.max_new_tokens

    while True:
        if write(base, "base", params.step_size):
            break
        if len(cheats) < params.c:
            stats = logit_stats(next_logits(base)[None])[0]
            view = RowView(0, len(answer), len(cheats), params.c, params.k, params.max_new_tokens, stats, None)
            if policy.consult(view):
                cheats.append(len(answer))
                if write(oracle, "oracle", params.k):
                    break
    return answer, cheats


@pytest.mark.parametrize("policy_name", ["always", "entropy"])
def test_cache_reuse_matches_full_reencode(models: dict[str, str], policy_name: str) -> None:
    base, oracle = session(models["base"]), session(models["oracle"])
    params = GuidedParams(c=2, k=3, step_size=4, max_new_tokens=20)
    threshold = None
    if policy_name == "entropy":  # a threshold in the middle of the boundary entropies seen without consulting
        probe = Recording(make_policy("never"))
        GuidedLoop(base, oracle, probe, GuidedParams(c=4, k=3, step_size=4, max_new_tokens=20)).run(PROMPTS)
        values = sorted(s["entropy"] for _, _, _, s, _ in probe.seen)
        # the middle of the widest gap in the middle half: never equal to an entropy either side computes (a
        # batched, cached forward and the one-row reference differ in the last float bits)
        middle = values[len(values) // 4: 3 * len(values) // 4 + 1]
        lo, hi = max(zip(middle, middle[1:], strict=False), key=lambda pair: pair[1] - pair[0])
        threshold = (lo + hi) / 2
    policy = Recording(make_policy(policy_name, threshold=threshold))
    seqs = GuidedLoop(base, oracle, policy, params).run(PROMPTS)
    assert base.forward_calls and oracle.forward_calls
    total_cheats = 0
    for prompt, seq in zip(PROMPTS, seqs, strict=True):
        want, cheats = reference(base, oracle, prompt, params, make_policy(policy_name, threshold=threshold))
        assert [(p.token_id, p.source) for p in seq.pieces] == want
        assert seq.cheat_positions == cheats
        total_cheats += len(cheats)
    assert total_cheats > 0
    if policy_name == "entropy":
        for row, position, _used, stats, answer in policy.seen:
            assert answer == (stats["entropy"] > threshold), (row, position, stats)
            assert (position in seqs[row].cheat_positions) == answer
        assert any(not a for *_, a in policy.seen)


def test_budget_and_lengths_exact(models: dict[str, str]) -> None:
    base, oracle = session(models["base"]), session(models["oracle"])
    params = GuidedParams(c=3, k=5, step_size=4, max_new_tokens=40, ignore_eos=True)
    policy = make_policy("random_rising", p_start=0.5, p_end=1.0)
    seqs = GuidedLoop(base, oracle, policy, params, seed=7).run(PROMPTS)
    for seq in seqs:
        assert len(seq.pieces) == params.max_new_tokens and seq.finish_reason == "length"
        assert 1 <= seq.consultations <= params.c
        sources = [p.source for p in seq.pieces]
        for pos in seq.cheat_positions:
            assert sources[pos:pos + params.k] == ["oracle"] * params.k
            assert seq.pieces[pos].stats.get("consult") == 1.0 and "entropy" in seq.pieces[pos].stats
        assert seq.oracle_tokens == params.k * seq.consultations == sources.count("oracle")
        assert seq.base_tokens + seq.oracle_tokens == params.max_new_tokens
        assert [p.position for p in seq.pieces] == list(range(params.max_new_tokens))
    again = GuidedLoop(base, oracle, policy, params, seed=7).run(PROMPTS)
    assert [s.cheat_positions for s in again] == [s.cheat_positions for s in seqs]  # seeded


def test_different_tokenizers_hand_over_text(models: dict[str, str]) -> None:
    base, oracle = session(models["base"]), session(models["other"])
    params = GuidedParams(c=3, k=4, step_size=5, max_new_tokens=36, ignore_eos=True)
    loop = GuidedLoop(base, oracle, make_policy("always"), params)
    assert not loop.to_oracle.same
    seqs = loop.run(PROMPTS)
    for seq in seqs:
        assert seq.consultations == 3 and seq.text
        assert "".join(p.text for p in seq.pieces) == seq.text
        assert decode(base.tokenizer, base.answer_ids(seq.row)) == seq.text  # nothing lost, nothing doubled
        assert decode(oracle.tokenizer, oracle.answer_ids(seq.row)) == seq.text


def test_text_handover_boundary_merges() -> None:
    """A receiver whose tokenizer merges across the boundary re-encodes its last token with the new text."""
    from backends.guided.handover import Handover, encode

    tok = bpe_tokenizer()

    class Receiver:
        def __init__(self) -> None:
            self.ids: list[int] = encode(tok, "The qu")

        def answer_ids(self, row: int) -> list[int]:
            return self.ids

        def append(self, row: int, ids: list[int], drop_last: int = 0) -> None:
            self.ids = self.ids[:len(self.ids) - drop_last] + ids

    recv = Receiver()
    hand = Handover(tok, tok)
    hand.same = False  # force the text path on one tokenizer
    hand.move(recv, 0, [], "ick brown fox")
    assert decode(tok, recv.ids) == "The quick brown fox"
    assert recv.ids == encode(tok, "The quick brown fox")  # the boundary token was re-merged


def test_oracle_only_and_never(models: dict[str, str], tmp_path: Path) -> None:
    base, oracle = session(models["base"]), session(models["oracle"])
    params = GuidedParams(c=5, k=3, step_size=4, max_new_tokens=12, ignore_eos=True)
    only = GuidedLoop(base, oracle, make_policy("oracle_only"), params).run(PROMPTS[:2])
    assert all({p.source for p in s.pieces} == {"oracle"} and s.oracle_tokens == 12 for s in only)
    never = GuidedLoop(base, None, make_policy("never"), GuidedParams(c=0, k=0, max_new_tokens=12,
                                                                    ignore_eos=True)).run(PROMPTS[:2])
    assert all({p.source for p in s.pieces} == {"base"} and not s.cheat_positions for s in never)


def test_subset_forwards_and_take_back_match_a_fresh_forward(models: dict[str, str]) -> None:
    """Forwards over a changing subset of rows (ragged cache), with tokens taken back, keep every row's logits
    equal to one forward over that row's whole text, and a forward only runs over the rows it serves."""
    import torch

    s = session(models["base"])
    prompts = [s.render(p) for p in PROMPTS]
    s.open(prompts)
    batch_sizes: list[int] = []
    hook = s.model.register_forward_pre_hook(lambda _m, _a, kw: batch_sizes.append(kw["input_ids"].shape[0]),
                                             with_kwargs=True)
    s.append(1, [101, 102, 103, 104])
    s.boundary_stats([1])  # feeds row 1 alone
    s.append(1, [7], drop_last=2)  # takes back two cached tokens
    s.append(0, [55, 56])
    s.append(2, [9])
    s.boundary_stats([0, 2])
    s.generate([0, 1], [3, 2], ignore_eos=True)
    s.append(2, [11, 12, 13], drop_last=1)
    s.boundary_stats([2])
    s.boundary_stats([0, 1, 2])  # feeds the segments' last tokens (they wait for the next block)
    hook.remove()
    assert batch_sizes[:2] == [1, 2] and max(batch_sizes) == 2
    for row, prompt in enumerate(prompts):
        with torch.no_grad():
            fresh = s.model(torch.tensor([prompt + s.answer_ids(row)])).logits[0, -1].float()
        held = s._held_rows([row])[0]
        assert torch.allclose(held, fresh, atol=1e-4), row


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_oracle_sharing_the_base_session_writes_what_two_sessions_write(models: dict[str, str],
                                                                        temperature: float) -> None:
    """The same model as base and oracle (`SameModelOracle`): one KV cache, nothing handed over, the same tokens
    (greedy, and sampled with each side's own seeded stream) as two separate sessions, with fewer forwards."""
    from backends.guided.hf_session import SameModelOracle
    from backends.guided.session import ModelSampling

    params = GuidedParams(c=3, k=4, step_size=3, max_new_tokens=24, ignore_eos=True)
    base_sampling = ModelSampling(temperature=temperature, seed=1)
    oracle_sampling = ModelSampling(temperature=temperature / 2, seed=2)
    two = GuidedLoop(session(models["base"]), session(models["base"]), make_policy("random_rising"), params, seed=3)
    want = two.run(PROMPTS, base_sampling, oracle_sampling)
    base = session(models["base"])
    one = GuidedLoop(base, SameModelOracle(base), make_policy("random_rising"), params, seed=3)
    assert one.shared and one.to_base is None
    got = one.run(PROMPTS, base_sampling, oracle_sampling)
    assert [[(p.token_id, p.source) for p in s.pieces] for s in got] == \
        [[(p.token_id, p.source) for p in s.pieces] for s in want]
    assert [s.cheat_positions for s in got] == [s.cheat_positions for s in want]
    assert any(s.cheat_positions for s in got)
    assert base.forward_calls < two.base.forward_calls + two.oracle.forward_calls
    alone = GuidedLoop(None, SameModelOracle(session(models["base"])), make_policy("oracle_only"), params)
    assert all(s.oracle_tokens == params.max_new_tokens for s in alone.run(PROMPTS[:2]))


def test_batched_piece_texts_equal_one_decode_per_prefix(embedded_model: str) -> None:
    """Pieces decoded in one batched call read exactly as the per-prefix decode: word starts, split multi-byte
    characters (a placeholder, then the rest), special tokens, empty segments."""
    import random

    from transformers import AutoTokenizer

    from backends.guided.handover import encode, token_texts, token_texts_batch

    tok = AutoTokenizer.from_pretrained(embedded_model)
    rng = random.Random(3)
    items = [(encode(tok, "Il était une fois"), encode(tok, " un café 🙂 über naïve ünïcödé 😀 end")),
             ([], encode(tok, "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 text")), (encode(tok, "x"), []),
             ([tok.eos_token_id], [tok.eos_token_id, *encode(tok, " after")])]
    items += [([rng.randrange(len(tok)) for _ in range(8)], [rng.randrange(len(tok)) for _ in range(10)])
              for _ in range(40)]
    assert token_texts_batch(tok, items) == [token_texts(tok, c, i) for c, i in items]
