"""A spec's sampling settings as the engine's `SamplingParams` (shared by the local, Ray and delegation paths)."""

from __future__ import annotations

from backends.base import SamplingParams
from experiments.specs import SamplingSpec
from experiments.stages.inference.spec import InferenceSpec


def sampling_params(spec: InferenceSpec) -> SamplingParams:
    return params_of(spec.sampling)


def params_of(s: SamplingSpec) -> SamplingParams:
    """The engine's sampling parameters for a spec's `SamplingSpec` (shared by every stage that generates)."""
    return SamplingParams(n=s.n, temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                          seed=s.seed, stop=tuple(s.stop), logprobs=s.logprobs,
                          ignore_eos=s.ignore_eos)
