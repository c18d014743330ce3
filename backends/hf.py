"""Transformers backend: batched `generate` with left padding and the model's chat template, on CPU or GPU.

Requests arrive as a lazy iterable; they are grouped into batches of `batch_size` prompts (each expanded to `n`
sequences) and each batch's results are yielded as soon as it finishes, so callers can commit chunks while
generation goes on. Sampling is seeded per batch from the request keys, so a recomputed chunk is reproducible.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from backends.base import (
    GenerationRequest,
    GenerationResult,
    PromptTooLong,
    SamplingParams,
    TokenLogprob,
    Truncation,
)
from backends.embedded import resolve_model
from backends.prompt_fit import fit_prompt


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
        adapter: str | None = None,
        progress: Any = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_name = model
        self.path = resolve_model(model, progress)
        self.device = pick_device(device)
        self.batch_size = max(1, batch_size)
        self.max_prompt_length = max_prompt_length
        self.truncation = truncation
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self.model = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch_dtype).to(self.device)
        if adapter:
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, adapter)
        self.model.eval()
        self.adapter = adapter

    # -- prompt preparation -------------------------------------------------------------------------------
    def encode(self, request: GenerationRequest) -> tuple[list[int], bool]:
        """Token ids of the rendered prompt, its content cut per policy; raises PromptTooLong for `error`."""
        fitted = fit_prompt(self.tokenizer, request, self.max_prompt_length, self.truncation)
        return fitted.ids, fitted.truncated

    # -- generation -----------------------------------------------------------------------------------------
    def generate(self, requests: Iterable[GenerationRequest], params: SamplingParams) -> Iterator[GenerationResult]:
        it = iter(requests)
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
        import torch

        pad = self.tokenizer.pad_token_id
        width = max(len(ids) for _, ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (_, ids, _) in enumerate(batch):
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids):] = 1
        sample = params.temperature > 0
        copies = params.n if sample else 1  # greedy samples are identical: decode once, repeat
        if params.seed is not None:
            torch.manual_seed(params.seed ^ zlib.crc32(repr(batch[0][0].key).encode()))
        kwargs: dict[str, Any] = dict(
            max_new_tokens=params.max_tokens,
            do_sample=sample,
            num_return_sequences=copies,
            pad_token_id=pad,
            return_dict_in_generate=True,
            output_scores=params.logprobs is not None,
        )
        if sample:
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
        new_tokens = out.sequences[:, width:].cpu()
        eos_ids = self._eos_ids()
        rows = new_tokens.tolist()
        for flat in range(len(batch) * params.n):
            seq = flat if sample else flat // params.n
            row = rows[seq]
            req, ids, truncated = batch[flat // params.n]
            length = next((i for i, t in enumerate(row) if t in eos_ids or t == pad), len(row))
            hit_eos = length < len(row)
            text = self.tokenizer.decode(row[:length], skip_special_tokens=True)
            finish = "stop" if hit_eos or self._stopped(text, params) else "length"
            yield GenerationResult(
                key=req.key,
                sample_idx=flat % params.n,
                text=self._cut_at_stop(text, params),
                finish_reason=finish,
                prompt_tokens=len(ids),
                completion_tokens=length + (1 if hit_eos else 0),
                logprobs=self._logprobs(out.scores, seq, row[:length], params.logprobs)
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
            "adapter": self.adapter,
            "torch": torch.__version__,
        }

    def close(self) -> None:
        self.model = None
