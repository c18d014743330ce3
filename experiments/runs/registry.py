"""What the kernel knows of stages: a `Registry` of import paths, handed in from the top.

The kernel (jobs, worker, pipelines) never imports a stage package: whoever launches a run passes a `Registry`
(the CLI, the TUI and `experiments.api` pass the stage package's `STAGES`), and a worker process finds it again by
its `"module:attr"` path on the command line. Entries hold import paths only, so naming a stage imports nothing.
"""

from __future__ import annotations

import functools
import importlib
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError

from experiments.specs import SpecError, explain


@dataclass(frozen=True)
class Stage:
    """One stage: a package with `spec.py` (its pydantic spec), `run.py` (`run`, optional `finalize`), optional
    `cli.py` (`register(sub)`) and `views.py`. `package` is set by the registry that holds it."""

    name: str
    spec: str  # class name in <package>.spec
    help: str
    cli: bool = False
    views: bool = False
    needs_input: bool = True  # reads another run's records (input_run)
    package: str = ""

    def module(self, part: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.{part}")

    def spec_model(self) -> Any:
        return getattr(self.module("spec"), self.spec)

    def runner(self) -> Callable[..., Any]:
        return self.module("run").run

    def finalizer(self) -> Callable[..., Any] | None:
        """Optional `finalize(spec, ctx)`: runs once, after every chunk of every worker is done."""
        return getattr(self.module("run"), "finalize", None)

    def register_cli(self, sub: Any) -> None:
        """Add the stage's commands. An import error here must fail loudly, never drop the commands."""
        if self.cli:
            self.module("cli").register(sub)

    def view_module(self) -> ModuleType | None:
        return self.module("views") if self.views else None


class Registry:
    """The stages a launcher offers, by name, plus the kernel's own `pipeline` spec.

    `path` is where a worker process imports this registry from (`"<package>:STAGES"`). `on_complete`
    (`"module:function"`, optional) is called with a run's store by the worker that finalizes it, once its records
    are complete and before it is marked done: caches the views want ready when a done run is opened (the records
    index)."""

    def __init__(self, stages: Iterable[Stage], package: str, path: str, on_complete: str = "") -> None:
        self.path = path
        self.on_complete_path = on_complete
        self._stages = {s.name: Stage(**{**s.__dict__, "package": f"{package}.{s.name}"}) for s in stages}

    def __iter__(self) -> Iterator[str]:
        return iter(self._stages)

    def __contains__(self, name: object) -> bool:
        return name in self._stages

    def __getitem__(self, name: str) -> Stage:
        return self.get(name)

    def values(self) -> Iterable[Stage]:
        return self._stages.values()

    def items(self) -> Iterable[tuple[str, Stage]]:
        return self._stages.items()

    def get(self, name: str) -> Stage:
        try:
            return self._stages[name]
        except KeyError:
            known = ", ".join([*self._stages, "pipeline"])
            raise ValueError(f"unknown stage {name!r}; known: {known}") from None

    def spec_model(self, name: str) -> type[BaseModel]:
        if name == "pipeline":
            from experiments.runs.pipeline import PipelineSpec

            return PipelineSpec
        return self.get(name).spec_model()

    def runner(self, name: str) -> Callable[..., Any]:
        if name == "pipeline":
            from experiments.runs.pipeline_run import run_pipeline

            return functools.partial(run_pipeline, registry=self)
        return self.get(name).runner()

    def on_complete(self) -> Callable[..., Any] | None:
        if not self.on_complete_path:
            return None
        module, _, attr = self.on_complete_path.partition(":")
        return getattr(importlib.import_module(module), attr)

    def finalizer(self, name: str) -> Callable[..., Any] | None:
        if name == "pipeline":
            from experiments.runs.pipeline_run import finalize_pipeline

            return finalize_pipeline
        return self.get(name).finalizer()

    def parse(self, data: dict[str, Any] | BaseModel) -> Any:
        """Validate a spec dict with its stage's model; a pipeline's steps are each validated by theirs."""
        if isinstance(data, BaseModel):
            return data
        stage = data.get("stage")
        if not stage:
            raise SpecError("a spec needs `stage = \"...\"`")
        model = self.spec_model(str(stage))
        try:
            spec = model.model_validate(data)
        except ValidationError as exc:
            raise SpecError(explain(exc, model)) from None
        if stage == "pipeline":
            from experiments.runs.pipeline import check_pipeline

            check_pipeline(spec, self)
        return spec

    def from_toml(self, text: str) -> Any:
        return self.parse(tomllib.loads(text))


def load_registry(path: str) -> Registry:
    """The registry at `"module:attr"` (how a worker process, started with `--registry`, finds its stages)."""
    module, _, attr = path.partition(":")
    registry = getattr(importlib.import_module(module), attr)
    if not isinstance(registry, Registry):
        raise TypeError(f"{path} is not a Registry")
    return registry
