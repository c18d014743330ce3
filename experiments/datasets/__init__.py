"""Dataset sources and loaders. `load_examples(DatasetSpec)` -> examples plus row errors."""

from experiments.datasets import catalog  # noqa: F401  (registers the sources)
from experiments.datasets.base import DatasetSpec, Example, LoadResult, RowError
from experiments.datasets.describe import describe_source, resolve_template
from experiments.datasets.sources import SOURCES, Source, load_examples, register

__all__ = ["DatasetSpec", "Example", "LoadResult", "RowError", "SOURCES", "Source", "describe_source",
           "load_examples", "register", "resolve_template"]
