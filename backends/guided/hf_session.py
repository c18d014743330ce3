"""A transformers model session for guided decoding: one batched KV cache kept for the whole answer.

All rows share one `RaggedCache` (backends/guided/ragged_cache.py): every row has its own length, and a forward
call runs over only the rows that have tokens to add (their tokens right-aligned in one block), so the rows the
oracle does not serve cost nothing and no row collects padding columns. Tokens handed over by the other model
wait in `pending` and are fed as one block before the next sampled token, so nothing is ever re-encoded; the
last token of each segment waits there too, so it joins that block instead of costing a forward of its own. The
logits after each row's last token are kept (`held`): sampling starts from them, and the policy reads the base
model's boundary statistics from them. Taking back a token for a text hand-over shortens its row. Rows that end
are dropped from the cache once a quarter of the batch has ended.
"""

from __future__ import annotations

from typing import Any

from backends.embedded import resolve_model
from backends.guided.handover import render_prompt
from backends.guided.session import ModelSampling, Prompt, Segment
from backends.guided.stats import LOGIT_KEYS, logit_stats, logit_stats_tensor


class HFSession:
    exact_stats = True

    def __init__(self, model: str, device: str | None = None, dtype: str = "auto",
                 attention_stats: bool = False, progress: Any = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from backends.hf import pick_device

        self.model_name = model
        self.path = resolve_model(model, progress)
        self.device = pick_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        kwargs: dict[str, Any] = {"dtype": "auto" if dtype == "auto" else getattr(torch, dtype)}
        self.attention_stats = attention_stats
        if attention_stats:
            from backends.guided.attention import register
        else:
            from backends.sdpa_gqa import register
        kwargs["attn_implementation"] = register()
        self.model = AutoModelForCausalLM.from_pretrained(self.path, **kwargs).to(self.device).eval()
        self.last_layer = int(self.model.config.num_hidden_layers) - 1
        # SDPA-style kernels take a bool mask; kernels that add the mask to the scores need an additive one.
        impl = getattr(self.model.config, "_attn_implementation", "sdpa")
        self._additive_mask_dtype = None if impl in ("sdpa", "sdpa_gqa", "guided_stats") else self.model.dtype
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        if self.tokenizer.eos_token_id is not None:
            self.eos_ids.add(int(self.tokenizer.eos_token_id))
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        # Embedding matrices are often padded past the tokenizer (Qwen2.5: 151,936 rows, 151,665 tokens). Ids in the
        # padding are no token at all and another model sharing the tokenizer may not have them: never sample one.
        self.vocab_limit = len(self.tokenizer)
        self.forward_calls = 0

    def render(self, prompt: Prompt) -> list[int]:
        return render_prompt(self.tokenizer, prompt)

    # -- batch state -------------------------------------------------------------------------------------
    def open(self, prompts: list[list[int]], sampling: ModelSampling | None = None,
             track_stats: bool = False) -> None:
        from backends.guided.ragged_cache import RaggedCache

        n = len(prompts)
        self.sampling = sampling = sampling or ModelSampling()
        self.track_stats = track_stats
        self.gen = self.generator(sampling)
        self.cache = RaggedCache(n, self.device)
        self.held: Any = None
        self.held_attn: list[dict[str, float]] = [{} for _ in range(n)]
        self.index = {r: r for r in range(n)}  # logical row -> batch index in the cache
        self.answers: dict[int, list[int]] = {r: [] for r in range(n)}
        self.pending: dict[int, list[int]] = {r: [] for r in range(n)}
        self.dead: set[int] = set()
        self._forward({r: list(p) for r, p in enumerate(prompts)})

    def generator(self, sampling: ModelSampling) -> Any:
        import torch

        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(sampling.seed or 0))
        return gen

    def answer_ids(self, row: int) -> list[int]:
        return self.answers[row]

    def append(self, row: int, ids: list[int], drop_last: int = 0) -> None:
        """Add handed-over tokens (fed before the next sample); first take back the last `drop_last` ones."""
        if drop_last:
            del self.answers[row][-drop_last:]
            from_pending = min(drop_last, len(self.pending[row]))
            if from_pending:
                del self.pending[row][-from_pending:]
            if drop_last > from_pending:
                self.cache.take_back(self.index[row], drop_last - from_pending)
        self.answers[row].extend(ids)
        self.pending[row].extend(ids)

    def release(self, rows: list[int]) -> None:
        self.dead.update(r for r in rows if r in self.index)
        if len(self.dead) >= len(self.index):
            self.cache, self.held, self.dead = None, None, set()
            self.index = {}

    # -- generation --------------------------------------------------------------------------------------
    def generate(self, rows: list[int], budgets: list[int], ignore_eos: bool = False,
                 sampler: tuple[ModelSampling, Any] | None = None, track_stats: bool | None = None
                 ) -> dict[int, Segment]:
        """`sampler` (sampling, torch generator) and `track_stats` override this session's: `SameModelOracle`."""
        import torch

        sampling, gen = sampler or (self.sampling, self.gen)
        track = self.track_stats if track_stats is None else track_stats
        self._compact()
        out = {r: Segment(ids=[]) for r in rows}
        feed = {r: self.pending[r] for r in rows if self.pending[r]}
        if feed:
            self._forward(feed)
        left = dict(zip(rows, budgets, strict=True))
        going = [r for r in rows if left[r] > 0]
        banned = sorted(t for t in self.eos_ids if t < self.vocab_limit) if ignore_eos else []
        # Per-token stats stay on the device until the call ends: one transfer, no extra sync per token.
        stat_steps: list[Any] = []
        stat_slots: list[tuple[int, int, int, dict[str, float]]] = []  # (row, step, slot in step, attention)
        while going:
            held = self._held_rows(going)
            logits = held[:, :self.vocab_limit]
            if banned:
                logits = logits.index_fill(1, torch.tensor(banned, device=self.device), float("-inf"))
            tokens = self._sample(logits, sampling, gen).tolist()
            if track:
                stat_steps.append(logit_stats_tensor(held))
            step: dict[int, list[int]] = {}
            for slot, (r, tok) in enumerate(zip(going, tokens, strict=True)):
                if tok in self.eos_ids and not ignore_eos:
                    out[r].eos = True
                    continue
                out[r].ids.append(tok)
                if track:
                    stat_slots.append((r, len(stat_steps) - 1, slot, self.held_attn[self.index[r]]))
                self.answers[r].append(tok)
                left[r] -= 1
                if left[r] > 0:
                    step[r] = [tok]
                else:  # the segment's last token waits in `pending`: it joins the next block fed to this row
                    self.pending[r].append(tok)
            if step:
                self._forward(step)
            going = list(step)
        if stat_slots:
            values = [t.tolist() for t in stat_steps]
            for r, step_no, slot, attn in stat_slots:
                out[r].stats.append({**dict(zip(LOGIT_KEYS, values[step_no][slot], strict=True)), **attn})
        return out

    def _held_rows(self, rows: list[int]) -> Any:
        """The held logits of `rows` in order: a view when they are the whole cache in order, else a gather."""
        import torch

        idx = [self.index[r] for r in rows]
        if len(idx) == self.held.shape[0] and idx == list(range(len(idx))):
            return self.held
        return self.held[torch.tensor(idx, device=self.device)]

    def boundary_stats(self, rows: list[int]) -> dict[int, dict[str, float]]:
        """Stats of each row's next-token distribution (feeds pending tokens first)."""
        feed = {r: self.pending[r] for r in rows if self.pending[r]}
        if feed:
            self._forward(feed)
        stats = logit_stats(self._held_rows(rows))
        return {r: {**st, **self.held_attn[self.index[r]]} for r, st in zip(rows, stats, strict=True)}

    @staticmethod
    def _sample(logits: Any, s: ModelSampling, gen: Any) -> Any:
        import torch

        if s.temperature <= 0:
            return logits.argmax(-1)
        probs = torch.softmax(logits.float() / s.temperature, dim=-1)
        if s.top_p < 1.0:
            sorted_p, order = torch.sort(probs, descending=True, dim=-1)
            cut = sorted_p.cumsum(-1) - sorted_p > s.top_p
            sorted_p = sorted_p.masked_fill(cut, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
        return torch.multinomial(probs, 1, generator=gen).squeeze(-1)

    def _forward(self, tokens: dict[int, list[int]]) -> None:
        """One forward over the listed rows only: their tokens right-aligned in one block, appended per row."""
        import torch

        order = sorted(tokens, key=lambda r: self.index[r])
        batch_rows = [self.index[r] for r in order]
        width = max(len(tokens[r]) for r in order)
        block = [[self.pad_id] * (width - len(tokens[r])) + list(tokens[r]) for r in order]
        for r in order:
            self.pending[r] = []
        counts = [len(tokens[r]) for r in order]
        positions, mask = self.cache.prepare(batch_rows, counts, width, self._additive_mask_dtype)
        block_t = torch.tensor(block, dtype=torch.long, device=self.device)
        with torch.no_grad(), self._capture() as box:
            out = self.model(input_ids=block_t, attention_mask=mask, position_ids=positions,
                             past_key_values=self.cache, use_cache=True, logits_to_keep=1)
        self.forward_calls += 1
        last = out.logits[:, -1].float()
        if self.held is None or len(order) == self.cache.batch:  # every row, in batch order
            self.held = last
        else:
            self.held[torch.tensor(batch_rows, device=self.device)] = last
        if box is not None and box.get("rows") is not None:
            for i, b in enumerate(batch_rows):
                self.held_attn[b] = box["rows"][i][-1]

    def _capture(self) -> Any:
        """Attention stats of the last layer when the base's are tracked (also over a `SameModelOracle`'s tokens:
        the base's next token reads the attention of the last forward, whoever wrote the tokens before it)."""
        from contextlib import nullcontext

        if not (self.attention_stats and self.track_stats):
            return nullcontext(None)
        from backends.guided.attention import capture_attention

        return capture_attention(self.last_layer)

    def _compact(self) -> None:
        """Drop ended rows from the cache once they are a quarter of the batch (saves their compute)."""
        import torch

        if not self.dead or len(self.dead) * 4 < len(self.index):
            return
        keep_rows = sorted((r for r in self.index if r not in self.dead), key=lambda r: self.index[r])
        keep = [self.index[r] for r in keep_rows]
        self.cache.select_rows(keep)
        self.held = self.held[torch.tensor(keep, device=self.device)]
        self.held_attn = [self.held_attn[i] for i in keep]
        self.index = {r: i for i, r in enumerate(keep_rows)}
        self.dead = set()

    def describe(self) -> dict[str, Any]:
        return {"engine": "hf", "model": self.model_name, "path": self.path, "device": self.device,
                "dtype": str(self.model.dtype), "attention_stats": self.attention_stats}

    def close(self) -> None:
        self.model = None
        self.cache = None


class SameModelOracle:
    """The oracle when it is the base model itself (its own sampling): it writes into the base's session.

    One model and one KV cache: what either side writes is already in the cache the other reads, so a hand-over
    costs nothing, where two sessions of the same model would each encode the other's segments again (on a
    compute-bound CPU that doubles the work of an `always` run). `GuidedLoop` sees `shares`, hands nothing over
    and `join`s the base's batch instead of opening one; alone (oracle-only runs) it opens the base's session.
    """

    exact_stats = True

    def __init__(self, base: HFSession) -> None:
        self.shares = base
        self.tokenizer = base.tokenizer
        self.model_name = base.model_name
        self.join(ModelSampling())

    @property
    def forward_calls(self) -> int:
        return self.shares.forward_calls

    def render(self, prompt: Prompt) -> list[int]:
        return self.shares.render(prompt)

    def open(self, prompts: list[list[int]], sampling: ModelSampling | None = None,
             track_stats: bool = False) -> None:
        self.shares.open(prompts, sampling, track_stats=False)
        self.join(sampling or ModelSampling())

    def join(self, sampling: ModelSampling) -> None:
        """Write into the base's open batch with this sampling (and its own random stream)."""
        self.sampling, self.gen = sampling, self.shares.generator(sampling)

    def answer_ids(self, row: int) -> list[int]:
        return self.shares.answer_ids(row)

    def append(self, row: int, ids: list[int], drop_last: int = 0) -> None:
        self.shares.append(row, ids, drop_last)

    def generate(self, rows: list[int], budgets: list[int], ignore_eos: bool = False) -> dict[int, Segment]:
        return self.shares.generate(rows, budgets, ignore_eos, sampler=(self.sampling, self.gen), track_stats=False)

    def boundary_stats(self, rows: list[int]) -> dict[int, dict[str, float]]:
        return self.shares.boundary_stats(rows)

    def release(self, rows: list[int]) -> None:
        self.shares.release(rows)

    def describe(self) -> dict[str, Any]:
        return {**self.shares.describe(), "shares_base_session": True}

    def close(self) -> None:
        """The base session owns the model."""
