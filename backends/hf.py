"""Transformers backend: continuous batching or batched `generate`, the model's chat template, on CPU or GPU.

Requests arrive as a lazy iterable. By default `batch_size` prompts' rows decode together with continuous batching
(`backends/hf_continuous.py`): a row leaves as soon as it ends and the next prompt takes its slot, so no batch
waits for its longest answer; each result is yielded when its row ends. With `continuous=False` (or a model whose
generation config adds logits processors) they are grouped into batches of `batch_size` prompts for `generate`
(left padding, each prompt expanded to `n` sequences) and each batch's results are yielded as soon as it
finishes. Either way callers can commit chunks while generation goes on. With a seed, every sample draws from its
own RNG seeded from (seed, request key, sample index), so a request samples the same text whatever it is batched
with: a chunk recomputed after a resume is identical. Logprobs are read from the raw logits (as vLLM reports
them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from backends.base import (
    GenerationRequest,
    GenerationResult,
    PromptTooLong,
    SamplingParams,
    TokenLogprob,
    Truncation,
    request_seed,
)
from backends.embedded import resolve_model
from backends.prompt_fit import fit_prompt


def adapter_tokenizer(adapter: str | None) -> str | None:
    """An adapter folder saved with its tokenizer (added confidence tokens) supplies the tokenizer."""
    if adapter and any((Path(adapter) / name).exists() for name in ("tokenizer.json", "tokenizer_config.json")):
        return adapter
    return None


def pick_device(device: str | None) -> str:
    import torch

    if device and device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


class HFGenerator:
    """`Generator` over a transformers causal LM."""

    def __init__(
        self,
        model: str = "smollm2-135m",
        batch_size: int = 16,
        device: str | None = None,
        dtype: str = "auto",
        max_prompt_length: int | None = None,
        truncation: Truncation = "left",
        adapter: str | None = None,  # a peft adapter folder (e.g. an sft run's outputs/adapter)
        progress: Any = None,
        continuous: bool = True,  # continuous batching (backends/hf_continuous.py); False: batches of `generate`
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_name = model
        self.path = resolve_model(model, progress)
        self.device = pick_device(device)
        self.batch_size = max(1, batch_size)
        self.max_prompt_length = max_prompt_length
        self.truncation = truncation
        self.tokenizer = AutoTokenizer.from_pretrained(adapter_tokenizer(adapter) or self.path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        from backends.sdpa_gqa import register

        self.model = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch_dtype,
                                                          attn_implementation=register()).to(self.device)
        if adapter:
            from peft import PeftModel

            if len(self.tokenizer) > self.model.get_input_embeddings().weight.shape[0]:
                self.model.resize_token_embeddings(len(self.tokenizer))  # the adapter's added tokens
            self.model = PeftModel.from_pretrained(self.model, adapter)
        self.model.eval()
        self.adapter = adapter
        from backends.hf_continuous import supports

        self.continuous = continuous and supports(self.model)

    # -- prompt preparation -------------------------------------------------------------------------------
    def encode(self, request: GenerationRequest) -> tuple[list[int], bool]:
        """Token ids of the rendered prompt, its content cut per policy; raises PromptTooLong for `error`."""
        fitted = fit_prompt(self.tokenizer, request, self.max_prompt_length, self.truncation)
        return fitted.ids, fitted.truncated

    # -- generation -----------------------------------------------------------------------------------------
    def generate(self, requests: Iterable[GenerationRequest], params: SamplingParams) -> Iterator[GenerationResult]:
        it = iter(requests)
        if self.continuous:  # `batch_size` prompts' rows in flight; a finished row's slot takes the next prompt
            from backends.hf_continuous import ContinuousBatcher

            copies = params.n if params.temperature > 0 else 1  # rows per prompt, as a `generate` batch has
            yield from ContinuousBatcher(self, self.batch_size * copies).generate(it, params)
            return
        while batch := list(islice(it, self.batch_size)):
            ready: list[tuple[GenerationRequest, list[int], bool]] = []
            for req in batch:
                try:
                    ids, truncated = self.encode(req)
                    ready.append((req, ids, truncated))
                except PromptTooLong as exc:
                    for s in range(params.n):
                        yield GenerationResult(req.key, s, "", "error", error=str(exc))
            if ready:
                yield from self._generate_batch(ready, params)

    def _generate_batch(
        self, batch: list[tuple[GenerationRequest, list[int], bool]], params: SamplingParams
    ) -> Iterator[GenerationResult]:
        """One row per sample when sampling (each with its own seeded RNG), one per prompt when greedy."""
        import torch

        sample = params.temperature > 0
        copies = params.n if sample else 1  # greedy samples are identical: decode once, repeat
        rows = [entry for entry in batch for _ in range(copies)]
        pad = self.tokenizer.pad_token_id
        width = max(len(ids) for _, ids, _ in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for row, (_, ids, _) in enumerate(rows):
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids):] = 1
        kwargs: dict[str, Any] = dict(
            max_new_tokens=params.max_tokens,
            pad_token_id=pad,
            return_dict_in_generate=True,
            output_logits=params.logprobs is not None,
            do_sample=sample and params.seed is None,
        )
        if sample and params.seed is not None:  # sample ourselves, per row, then let greedy pick our token
            seeds = [request_seed(params.seed, (req.key, flat % copies)) for flat, (req, _, _) in enumerate(rows)]
            kwargs.update(temperature=None, top_p=None, top_k=None,
                          logits_processor=[seeded_sampler(seeds, params.temperature, params.top_p)])
        elif sample:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if params.ignore_eos:
            kwargs.update(min_new_tokens=params.max_tokens)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device), **kwargs
            )
        new_tokens = out.sequences[:, width:].cpu().tolist()
        eos_ids = self._eos_ids()
        for flat in range(len(batch) * params.n):
            seq = flat if sample else flat // params.n
            row = new_tokens[seq]
            req, ids, truncated = batch[flat // params.n]
            length = next((i for i, t in enumerate(row) if t in eos_ids or t == pad), len(row))
            text = self.tokenizer.decode(row[:length], skip_special_tokens=True)
            stopped = self._stopped(text, params)
            hit_eos = length < len(row) and not stopped  # after a stop string come pad ids, no sampled EOS
            finish = "stop" if hit_eos or stopped else "length"
            yield GenerationResult(
                key=req.key,
                sample_idx=flat % params.n,
                text=self._cut_at_stop(text, params),
                finish_reason=finish,
                prompt_tokens=len(ids),
                completion_tokens=length + (1 if hit_eos else 0),
                logprobs=self._logprobs(out.logits, seq, row[:length], params.logprobs)
                if params.logprobs is not None
                else None,
                prompt_truncated=truncated,
            )

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    @staticmethod
    def _stopped(text: str, params: SamplingParams) -> bool:
        return any(s in text for s in params.stop)

    @staticmethod
    def _cut_at_stop(text: str, params: SamplingParams) -> str:
        cuts = [text.index(s) for s in params.stop if s in text]
        return text[: min(cuts)] if cuts else text

    def _logprobs(self, scores: Any, flat: int, tokens: list[int], k: int) -> list[TokenLogprob]:
        import torch

        result = []
        for step, tok in enumerate(tokens):
            logp = torch.log_softmax(scores[step][flat].float(), dim=-1)
            top = torch.topk(logp, max(1, k))
            pairs = zip(top.values.tolist(), top.indices.tolist(), strict=True)
            result.append(
                TokenLogprob(
                    token=self.tokenizer.decode([tok]),
                    logprob=float(logp[tok]),
                    top={self.tokenizer.decode([i]): v for v, i in pairs},
                )
            )
        return result

    def describe(self) -> dict[str, Any]:
        import torch

        return {
            "backend": "hf",
            "model": self.model_name,
            "path": self.path,
            "device": self.device,
            "dtype": str(self.model.dtype),
            "batch_size": self.batch_size,
            "continuous_batching": self.continuous,
            "adapter": self.adapter,
            "torch": torch.__version__,
        }

    def close(self) -> None:
        self.model = None


def seeded_sampler(seeds: list[int], temperature: float, top_p: float) -> Any:
    """A logits processor that samples each row with its own `torch.Generator` (temperature, then top-p) and
    leaves only the drawn token possible, so `generate` in greedy mode emits it. transformers' sampler draws
    from one global RNG for the whole batch: a row's text would depend on its neighbours."""
    import torch
    from transformers import LogitsProcessor

    class SeededSampler(LogitsProcessor):
        def __init__(self) -> None:
            self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            probs = torch.softmax(scores.float().cpu() / temperature, dim=-1)
            if top_p < 1.0:
                sorted_probs, order = torch.sort(probs, descending=True, dim=-1)
                outside = sorted_probs.cumsum(dim=-1) - sorted_probs > top_p  # the first token always stays
                sorted_probs[outside] = 0.0
                probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
            drawn = torch.cat([torch.multinomial(probs[row], 1, generator=g)
                               for row, g in enumerate(self.generators)]).to(scores.device)
            forced = torch.full_like(scores, float("-inf"))
            forced.scatter_(-1, drawn.unsqueeze(-1), 0.0)
            return forced

    return SeededSampler()
