"""Examples, dataset specs and the loading result shared by every dataset loader.

Loaders never raise for a bad row: they return it as a `RowError` with its reason (malformed line, missing
field), so a run records it in errors.jsonl and goes on with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Example(BaseModel):
    """One benchmark item with a stable id (source, split and row index), so resume and merges line up."""

    example_id: str
    index: int
    question: str
    gold: str
    domain: str = "gsm8k"
    source: str = ""
    context: dict[str, Any] = Field(default_factory=dict)  # options, passage, tests, ...


@dataclass
class RowError:
    item_id: str
    reason: str
    detail: str = ""


@dataclass
class LoadResult:
    examples: list[Example] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class DatasetSpec(BaseModel):
    """Which data to load. `source` is a built-in name, a local file (JSON/JSONL/Parquet/CSV) or a hub name.

    `path` reads a named source's format (`math`, `medqa`, `verl`, ...) from a local file; without it such a
    source falls back to its built-in files or, failing those, its hub name.
    """

    model_config = ConfigDict(extra="forbid")

    source: str = Field("gsm8k", description="built-in name (arith, gsm8k, math, ...), a local file, or a hub name")
    path: str | None = Field(None, description="a local file in the named source's format")
    split: str = Field("test", description="split of a built-in or hub source")
    format: str = Field("auto", description="auto | jsonl | json | parquet | csv | hub")
    columns: dict[str, str] = Field(default_factory=dict, description="our field -> column in the file (question, "
                                    "answer, solution, options, ...); dotted paths reach nested fields, `a|b` takes "
                                    "the first non-empty")
    domain: str | None = Field(None, description="overrides the source's default domain (grader and token)")
    template: str | None = Field(None, description="prompt template name; default: the source's own")
    system_prompt: str | None = Field(None, description="a system message before the question")
    limit: int | None = Field(None, ge=1, description="examples to use (after offset); empty = all")
    offset: int = Field(0, ge=0, description="examples to skip first")

    def label(self) -> str:
        if self.path:
            return f"{self.source}:{self.path.replace(chr(92), '/').rsplit('/', 1)[-1]}"
        return f"{self.source}:{self.split}" if self.format in ("auto", "hub") else self.source
