"""The judging spec: an LLM judge over an inference run's records."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from experiments.specs import BackendSpec, BaseSpec


class JudgingSpec(BaseSpec):
    """An LLM judge over an inference run's records (seed 000): JSON verdicts, usage and cost."""

    stage: Literal["judging"] = "judging"
    input_run: str = Field("", description="the inference (or graded) run to judge")
    model: str = Field("smollm2-135m", description="the judge model (served name for openai_compat)")
    backend: BackendSpec = Field(default_factory=lambda: BackendSpec(kind="openai_compat"))
    num_workers: int = Field(8, ge=1, description="concurrent judge requests")
    max_tokens: int = Field(512, ge=1, description="judge reply tokens")
    temperature: float = Field(0.0, ge=0, description="judge sampling temperature (0 = greedy)")
    parse_retries: int = Field(2, ge=0, description="re-asks when the verdict is not valid JSON")
    structured_output: bool = Field(True, description="ask for a JSON schema where the server supports it")
    structured_format: Literal["response_format", "structured_outputs"] = Field(
        "response_format", description="how the schema is sent: response_format (OpenAI) or structured_outputs (vLLM)")
    chunk_size: int = Field(32, ge=1, description="records per chunk (the unit of resume)")
    max_chunks_in_flight: int | None = Field(None, ge=1, description="chunks judged at once (a kill -9 loses at "
                                             "most these); empty = enough for 4 x num_workers records")
    prices: dict[str, list[float]] = Field(default_factory=dict, description="model -> [$/1M in, $/1M out]")

    def chunks_in_flight(self, records_per_chunk: int) -> int:
        """The bound on chunks in flight: the spec's, or enough whole chunks to keep num_workers requests busy."""
        if self.max_chunks_in_flight is not None:
            return self.max_chunks_in_flight
        return max(1, -(-4 * self.num_workers // max(1, records_per_chunk)))
