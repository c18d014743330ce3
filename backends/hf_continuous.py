"""Continuous batching for the transformers backend: a batch never waits for its longest answer.

`model.generate` decodes a batch until its longest row ends: rows that finished early keep computing padding, and
the next batch waits for the slowest answer. Here up to `slots` rows decode together in one `RaggedCache` (per-row
lengths, a forward over only the rows that have tokens): a row leaves as soon as it ends, its result is yielded at
once, and its slot takes the next prompt (prefilled in a forward of its own, then decoding with the others).

Sampling follows `HFGenerator`'s plain path: greedy is an argmax of the raw logits; a seeded sample draws from its
own generator seeded by (seed, request key, sample index), temperature then top-p, so a request samples the same
text whatever it is batched with. Ends follow it too: EOS (suppressed with `ignore_eos`), `max_tokens`, a stop
string; the text is cut at the first EOS or pad id and at the first stop string.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from backends.base import GenerationRequest, GenerationResult, SamplingParams, TokenLogprob, request_seed

# Generation-config settings that add logits processors to `generate`; a model that sets one of them goes through
# the plain path, so both paths always write the same text.
UNSUPPORTED = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_repetition_penalty": 1.0,
               "bad_words_ids": None, "suppress_tokens": None, "begin_suppress_tokens": None,
               "forced_bos_token_id": None, "forced_eos_token_id": None, "sequence_bias": None,
               "exponential_decay_length_penalty": None, "min_length": 0, "min_new_tokens": None}


def supports(model: Any) -> bool:
    gc = getattr(model, "generation_config", None)
    return all(getattr(gc, name, default) in (default, None, 0, 1.0, [], {}) for name, default in UNSUPPORTED.items())


@dataclass
class _Row:
    request: GenerationRequest
    sample_idx: int
    prompt: list[int]
    truncated: bool
    generator: Any = None
    tokens: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    stopped: bool = False  # a stop string appeared


class ContinuousBatcher:
    """Decodes `requests` with at most `slots` rows in flight; `owner` is the `HFGenerator` (model, tokenizer)."""

    def __init__(self, owner: Any, slots: int) -> None:
        self.owner, self.slots = owner, max(1, slots)
        self.model, self.tokenizer, self.device = owner.model, owner.tokenizer, owner.device
        self.eos = owner._eos_ids()
        self.pad = self.tokenizer.pad_token_id
        self.forward_calls = 0

    # -- the loop ----------------------------------------------------------------------------------------
    def generate(self, requests: Iterator[GenerationRequest], params: SamplingParams
                 ) -> Iterator[GenerationResult]:
        import torch

        from backends.guided.ragged_cache import RaggedCache

        sample = params.temperature > 0
        copies = params.n if sample else 1  # greedy samples are identical: decode once, repeat
        waiting: list[_Row] = []
        it: Iterator[GenerationRequest] | None = iter(requests)
        cache = RaggedCache(self.slots, self.device)
        slot_row: list[_Row | None] = [None] * self.slots
        held: Any = None  # [slots, vocab] logits after each slot's last token
        banned = torch.tensor(sorted(self.eos), device=self.device) if params.ignore_eos and self.eos else None
        while True:
            free = [s for s, r in enumerate(slot_row) if r is None]
            while it is not None and len(waiting) < len(free):  # refill: pull only what free slots take (lazy)
                req = next(it, None)
                if req is None:
                    it = None
                    break
                rows, errors = self._rows(req, params, copies, sample)
                yield from errors
                waiting += rows
            if it is None and not waiting and free and len(free) < len(slot_row):
                # nothing left to join: drop the free slots from the cache (one copy of the rows still going)
                # so that every later step runs over all of its rows without gathering their keys and values
                keep = [s for s, r in enumerate(slot_row) if r is not None]
                cache.select_rows(keep)
                held = held[torch.tensor(keep, device=self.device)]
                slot_row = [slot_row[s] for s in keep]
                free = []
            joining = {}
            for s in free:
                if not waiting:
                    break
                row = waiting.pop(0)
                slot_row[s] = row
                cache.take_back(s, int(cache.lengths[s]))
                joining[s] = row.prompt
            if joining:
                held = self._forward(cache, joining, held)
            active = [s for s, r in enumerate(slot_row) if r is not None]
            if not active:
                return
            with torch.no_grad():
                raw = held[active] if len(active) < len(slot_row) else held
                logits = raw.index_fill(1, banned, float("-inf")) if banned is not None else raw
                tokens = self._pick(logits, [slot_row[s] for s in active], sample, params)
            step: dict[int, list[int]] = {}
            for i, (s, tok) in enumerate(zip(active, tokens, strict=True)):
                row = slot_row[s]
                assert row is not None
                row.tokens.append(tok)
                if params.logprobs is not None:  # from the raw logits, as the plain path reports them
                    row.logprobs.append(self._logprob(raw[i], tok, params.logprobs))
                if self._ended(row, tok, params):
                    slot_row[s] = None
                    yield from self._results(row, params, copies)
                else:
                    step[s] = [tok]
            if step:
                held = self._forward(cache, step, held)

    def _rows(self, req: GenerationRequest, params: SamplingParams, copies: int,
              sample: bool) -> tuple[list[_Row], list[GenerationResult]]:
        import torch

        from backends.base import PromptTooLong

        try:
            ids, truncated = self.owner.encode(req)
        except PromptTooLong as exc:
            return [], [GenerationResult(req.key, s, "", "error", error=str(exc)) for s in range(params.n)]
        rows = []
        for s in range(copies):
            gen = None
            if sample and params.seed is not None:
                gen = torch.Generator().manual_seed(request_seed(params.seed, (req.key, s)))
            rows.append(_Row(req, s, list(ids), truncated, gen))
        return rows, []

    # -- model calls -------------------------------------------------------------------------------------
    def _forward(self, cache: Any, tokens: dict[int, list[int]], held: Any) -> Any:
        """One forward over the listed slots (their tokens right-aligned in one block); returns updated `held`
        ([slots in the cache, vocab]: the logits after each slot's last token)."""
        import torch

        order = sorted(tokens)
        width = max(len(tokens[s]) for s in order)
        pad = self.pad if self.pad is not None else 0
        block = torch.tensor([[pad] * (width - len(tokens[s])) + tokens[s] for s in order], dtype=torch.long,
                             device=self.device)
        positions, mask = cache.prepare(order, [len(tokens[s]) for s in order], width)
        with torch.no_grad():
            out = self.model(input_ids=block, attention_mask=mask, position_ids=positions, past_key_values=cache,
                             use_cache=True, logits_to_keep=1)
        self.forward_calls += 1
        last = out.logits[:, -1].float()
        if held is None:
            held = last.new_zeros((cache.batch, last.shape[-1]))
        if len(order) == cache.batch:
            return last
        held[torch.tensor(order, device=self.device)] = last
        return held

    @staticmethod
    def _pick(logits: Any, rows: list[_Row], sample: bool, params: SamplingParams) -> list[int]:
        import torch

        if not sample:
            return logits.argmax(-1).tolist()
        if params.seed is None:
            probs = _probs(logits, params.temperature, params.top_p)
            return torch.multinomial(probs, 1).squeeze(-1).tolist()
        picks = []
        for i, row in enumerate(rows):  # per-row generators, on the CPU as the plain path's sampler draws
            probs = _probs(logits[i:i + 1].cpu(), params.temperature, params.top_p)[0]
            picks.append(int(torch.multinomial(probs, 1, generator=row.generator)))
        return picks

    def _logprob(self, logits: Any, tok: int, k: int) -> TokenLogprob:
        import torch

        logp = torch.log_softmax(logits.float(), dim=-1)
        top = torch.topk(logp, max(1, k))
        decode = self.tokenizer.decode
        return TokenLogprob(token=decode([tok]), logprob=float(logp[tok]),
                            top={decode([i]): v for v, i in zip(top.values.tolist(), top.indices.tolist(),
                                                                strict=True)})

    # -- ends and results --------------------------------------------------------------------------------
    def _ended(self, row: _Row, tok: int, params: SamplingParams) -> bool:
        if tok in self.eos and not params.ignore_eos:
            return True
        if len(row.tokens) >= params.max_tokens:
            return True
        if params.stop:
            text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
            row.stopped = any(s in text for s in params.stop)
            return row.stopped
        return False

    def _results(self, row: _Row, params: SamplingParams, copies: int) -> Iterator[GenerationResult]:
        owner, toks = self.owner, row.tokens
        length = next((i for i, t in enumerate(toks) if t in self.eos or t == self.pad), len(toks))
        hit_eos = length < len(toks)
        text = self.tokenizer.decode(toks[:length], skip_special_tokens=True)
        finish = "stop" if hit_eos or owner._stopped(text, params) else "length"
        for sample_idx in ([row.sample_idx] if copies > 1 else range(params.n)):
            yield GenerationResult(key=row.request.key, sample_idx=sample_idx, text=owner._cut_at_stop(text, params),
                                   finish_reason=finish, prompt_tokens=len(row.prompt),
                                   completion_tokens=length + (1 if hit_eos else 0),
                                   logprobs=row.logprobs[:length] if params.logprobs is not None else None,
                                   prompt_truncated=row.truncated)


def _probs(logits: Any, temperature: float, top_p: float) -> Any:
    """Temperature, then top-p (the first token always stays), as `backends.hf.seeded_sampler`."""
    import torch

    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True, dim=-1)
        outside = sorted_probs.cumsum(dim=-1) - sorted_probs > top_p
        sorted_probs[outside] = 0.0
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return probs
