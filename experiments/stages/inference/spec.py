"""The inference spec: dataset + model + sampling -> records. Light imports only (the TUI builds its form)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from experiments.datasets.base import DatasetSpec
from experiments.specs import BackendSpec, BaseSpec, SamplingSpec


class InferenceSpec(BaseSpec):
    """Generate answers with a model over a dataset."""

    stage: Literal["inference"] = "inference"
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    model: str = Field("smollm2-135m", description="alias, local HF folder, or hub id")
    backend: BackendSpec = Field(default_factory=BackendSpec)
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    chunk_size: int = Field(8, ge=1, description="examples per chunk (the unit of resume)")
    max_prompt_length: int | None = Field(None, ge=1, description="prompt tokens; longer prompts follow truncation")
    truncation: Literal["left", "right", "error"] = Field("error", description="cut the prompt's content, or refuse")
    data_parallel: int = Field(1, ge=1, description="worker processes (CPU, or one per GPU when gpus is empty)")
    gpus: list[int] = Field(default_factory=list, description="GPU ids; one worker per tensor_parallel group")
    tensor_parallel: int = Field(1, ge=1, description="GPUs per engine (vLLM)")
    chunk_id: int | None = Field(None, ge=0, description="compute only this chunk (seed-style per-GPU jobs)")
    force_regenerate: bool = Field(False, description="a resume of this run recomputes every chunk")
    max_chunks_in_flight: int = Field(2, ge=1, description="chunks handed to the engine at once: a kill -9 "
                                      "loses at most this many chunks")
    ray_address: str | None = Field(None, description="run chunks on Ray: 'auto', 'ray://head:10001', a GCS "
                                    "address, or 'local' (a one-node Ray here); empty = local worker processes")
    ray_actors: int = Field(1, ge=1, description="engine actors on the Ray cluster (one per GPU group)")
    ray_gpus_per_actor: float | None = Field(None, ge=0, description="GPUs each engine actor reserves "
                                             "(tensor_parallel for vLLM on GPUs); default 0")
    ray_cpus_per_actor: float = Field(1.0, ge=0, description="CPUs each engine actor reserves")
    ray_resources: dict[str, float] = Field(default_factory=dict, description="custom Ray resources per actor")
    ray_runtime_env: dict[str, Any] = Field(default_factory=dict, description="Ray runtime_env for the actors "
                                            "(e.g. working_dir, pip); confconsole must be importable on nodes")
