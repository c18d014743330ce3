"""Pipelines: a run whose steps are runs, run in order by one worker.

A pipeline spec names its steps; each step is any stage's spec plus `name`, `inputs` (earlier steps whose runs
it reads) and `matrix` (fields to expand over). Expansion is static, so the whole plan is known at launch:

- `matrix = {model = ["a", "b"], "dataset.source" = ["arith", "gsm8k"]}` makes one run per combination;
- a step whose single-run field (`input_run`, `adapter`, ...) reads a step with several runs fans out with it,
  one run per upstream run; a list field (`input_runs`, `weak_runs`, ...) gathers them all.

The pipeline's manifest lists every step's name, stage, run id and status; the run id is recorded before the step
starts, so a resumed pipeline (after a kill -9 anywhere) finds what is done by reading manifests and finishes only
what is missing. `then = [...]` on any spec is the same thing written shorter (`pipeline_from_chain`).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from experiments.specs import BaseSpec, SpecError

STEP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
STEP_KEYS = ("name", "inputs", "matrix")  # a step's own keys; everything else belongs to its stage's spec
RUN_PLACEHOLDER = "<run of step {name}>"


class StepSpec(BaseModel):
    """One step: `stage` and that stage's fields, plus `name`, `inputs` and `matrix`."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(description="the step's name: later steps read its runs by it")
    stage: str = Field(description="the stage this step runs")
    inputs: list[str] | dict[str, str | list[str]] = Field(
        default_factory=list, description="earlier steps this one reads: a list binds the stage's input field "
        "(input_runs, else input_run); a table binds fields by name (adapter = \"sft\", weak_runs = \"weak\")")
    matrix: dict[str, list[Any]] = Field(default_factory=dict, description="fields to expand over: one run per "
                                         "combination (dotted keys reach nested fields: \"dataset.source\")")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not STEP_NAME.match(value):
            raise ValueError(f"step name {value!r}: letters, digits, '-' and '_', starting with a letter")
        return value

    def stage_fields(self) -> dict[str, Any]:
        return {"stage": self.stage, **(self.model_extra or {})}


class PipelineSpec(BaseSpec):
    """Named steps of any stage, run in order; each reads earlier steps' runs by name."""

    stage: Literal["pipeline"] = "pipeline"
    steps: list[StepSpec] = Field(min_length=1, description="the steps, in the order they run")


@dataclass
class Instance:
    """One run of a step: its name (`step` or `step[label]`) and the spec fields it sets."""

    name: str
    step: str
    stage: str
    fields: dict[str, Any]
    bindings: dict[str, list[str]] = field(default_factory=dict)  # spec field -> instance names it reads
    lists: set[str] = field(default_factory=set)  # bound fields that take a list of runs

    def spec_data(self, run_ids: dict[str, str], group: str | None, title: str) -> dict[str, Any]:
        """The instance's spec with every input bound to the run ids of the instances it reads."""
        data = dict(self.fields)
        for key, sources in self.bindings.items():
            ids = [run_ids.get(s) or RUN_PLACEHOLDER.format(name=s) for s in sources]
            data[key] = ids if key in self.lists else ids[0]
        data.setdefault("group", group)
        data.setdefault("title", f"{title}: {self.name}" if title else self.name)
        data["then"] = []
        return data


def plan(spec: PipelineSpec, registry: Any) -> list[Instance]:
    """Every run the pipeline makes, in order, with its fields and bindings."""
    seen: dict[str, list[Instance]] = {}
    out: list[Instance] = []
    for step in spec.steps:
        if step.name in seen:
            raise SpecError(f"step name {step.name!r} is used twice")
        if step.stage == "pipeline":
            raise SpecError(f"step {step.name!r}: a pipeline cannot be a step")
        try:
            model = registry.spec_model(step.stage)
        except ValueError as exc:
            raise SpecError(f"step {step.name!r}: {exc}") from None
        if step.stage_fields().get("then"):
            raise SpecError(f"step {step.name!r}: `then` inside a pipeline; add the stages as steps instead")
        bound = _bound_fields(step, model, seen)
        instances = list(_expand(step, bound, seen, model))
        seen[step.name] = instances
        out.extend(instances)
    return out


def _bound_fields(step: StepSpec, model: Any, seen: dict[str, list[Instance]]) -> dict[str, list[str]]:
    """{spec field: [step names]} from `inputs`, checked against earlier steps and the stage's fields."""
    fields = model.model_fields
    if isinstance(step.inputs, list):
        if not step.inputs:
            return {}
        key = "input_runs" if "input_runs" in fields else "input_run"
        bound = {key: list(step.inputs)}
    else:
        bound = {k: [v] if isinstance(v, str) else list(v) for k, v in step.inputs.items()}
    for key, names in bound.items():
        if key not in fields:
            raise SpecError(f"step {step.name!r}: stage {step.stage!r} has no field {key!r} to bind inputs to")
        for name in names:
            if name not in seen:
                raise SpecError(f"step {step.name!r} reads {name!r}, which is not an earlier step")
    return bound


def _takes_list(model: Any, key: str) -> bool:
    annotation = model.model_fields[key].annotation
    return getattr(annotation, "__origin__", None) is list or annotation is list


def _expand(step: StepSpec, bound: dict[str, list[str]], seen: dict[str, list[Instance]], model: Any):  # noqa: ANN202
    lists = {k for k in bound if _takes_list(model, k)}
    fixed = {k: [i.name for n in names for i in seen[n]] for k, names in bound.items() if k in lists}
    fanned = [(k, [i.name for n in names for i in seen[n]]) for k, names in bound.items() if k not in lists]
    for key in step.matrix:
        if key.split(".")[0] not in model.model_fields:
            raise SpecError(f"step {step.name!r}: matrix key {key!r} is not a field of stage {step.stage!r}")
    axes = [[(key, v) for v in values] for key, values in step.matrix.items()]
    axes += [[(key, src) for src in sources] for key, sources in fanned]
    single = all(len(axis) == 1 for axis in axes)
    for combo in itertools.product(*axes) if axes else [()]:
        fields = step.stage_fields()
        bindings = dict(fixed)
        labels = []
        for key, value in combo:
            if key in dict(fanned):
                bindings[key] = [value]
                labels.append(value.partition("[")[2].rstrip("]") or value)
            else:
                _set_dotted(fields, key, value)
                labels.append(_label(value))
        name = step.name if single else f"{step.name}[{','.join(labels)}]"
        yield Instance(name=name, step=step.name, stage=step.stage, fields=fields, bindings=bindings, lists=lists)


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    for part in parents:
        current = data.get(part)
        data[part] = current = dict(current) if isinstance(current, dict) else {}
        data = current
    if isinstance(value, dict) and isinstance(data.get(last), dict):
        data[last] = {**data[last], **value}
    else:
        data[last] = value


def _label(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("source") or value.get("name") or next(iter(value.values()), "")
    text = str(value).rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[\[\],\s]+", "_", text)[:40]


def check_pipeline(spec: PipelineSpec, registry: Any) -> list[Instance]:
    """Validate the whole plan at launch: every run's spec, with placeholders for the runs it will read."""
    instances = plan(spec, registry)
    for inst in instances:
        try:
            registry.parse(inst.spec_data({}, spec.group, spec.title))
        except (SpecError, ValueError) as exc:
            raise SpecError(f"step {inst.name!r} ({inst.stage}): {exc}") from None
    return instances


def pipeline_from_chain(data: dict[str, Any]) -> dict[str, Any]:
    """`then = [...]` on a spec, as the pipeline it stands for: the spec, then each entry reading the one before.
    An entry with a `then` of its own runs that chain instead of the rest (as chains always did)."""
    steps: list[dict[str, Any]] = []
    names: dict[str, int] = {}

    def add(entry: dict[str, Any], after: str | None) -> str:
        stage = str(entry.get("stage", "step"))
        names[stage] = names.get(stage, 0) + 1
        name = stage if names[stage] == 1 else f"{stage}-{names[stage]}"
        step = {k: v for k, v in entry.items() if k not in ("then", "input_run") or (k == "input_run" and not after)}
        step["name"] = name
        if after:
            step["inputs"] = [after]
        steps.append(step)
        return name

    current: dict[str, Any] = dict(data)
    rest = list(current.get("then") or [])
    last = add(current, None)
    while rest:
        entry = dict(rest[0])
        rest = list(entry.get("then") or rest[1:])
        last = add(entry, last)
    return {"stage": "pipeline", "title": data.get("title", ""), "group": data.get("group"), "steps": steps}
