"""A launch form for any stage, generated from its spec model: field descriptors, form values, validation.

Plain Python (no Textual), so it is unit-tested on its own; the TUI's `SpecForm` widget only renders descriptors
and hands the widget values back to `evaluate`. Validation uses the stage's own spec model (the one `parse_spec`
uses for the CLI) plus the launch-time checks of `api.launch` (the `then` chain, the GPU layout), so the form
refuses exactly what a launch would refuse. A stage added to the registry gets its form with no UI code.
"""

from __future__ import annotations

import enum
import json
import re
import tomllib
import types
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from experiments.specs import BaseSpec, SpecError, explain, spec_to_toml
from experiments.stages import STAGES, get_stage

Kind = Literal["choice", "bool", "int", "float", "text", "toml", "section"]
SKIPPED = ("stage",)  # chosen with the stage picker, not typed
MISSING: Any = object()
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class FieldDescriptor:
    """One form field: `path` reaches it in the spec (`("sampling", "temperature")`); sections hold children."""

    path: tuple[str, ...]
    kind: Kind
    default: Any = MISSING  # MISSING: required, no default
    optional: bool = False  # None is allowed (an empty input means None)
    choices: tuple[str, ...] = ()
    help: str = ""
    children: tuple[FieldDescriptor, ...] = ()

    @property
    def key(self) -> str:
        return ".".join(self.path)

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def required(self) -> bool:
        return self.default is MISSING


@dataclass
class FormState:
    """What the form shows after each edit: the spec (when valid), its TOML, errors per field key."""

    data: dict[str, Any]
    spec: BaseModel | None = None
    toml: str = ""
    errors: dict[str, str] = field(default_factory=dict)  # "" = the whole form
    message: str = ""
    warning: str = ""

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.errors


# -- describing a model ---------------------------------------------------------------------------------------
def describe_stage(stage: str) -> list[FieldDescriptor]:
    """The stage's own fields first, then those every spec shares (title, group, then)."""
    fields = describe(get_stage(stage).spec_model())
    shared = set(BaseSpec.model_fields)
    return [d for d in fields if d.name not in shared] + [d for d in fields if d.name in shared]


def describe(model: type[BaseModel], defaults: BaseModel | None = None,
             prefix: tuple[str, ...] = ()) -> list[FieldDescriptor]:
    """Descriptors of `model`'s fields in declaration order. A nested model becomes a section whose children
    take their defaults from the parent's default instance (a judge's backend defaults to openai_compat)."""
    out = []
    for name, info in model.model_fields.items():
        if not prefix and name in SKIPPED:
            continue
        if defaults is not None:
            default = getattr(defaults, name)
        elif info.is_required():
            default = MISSING
        else:
            default = info.get_default(call_default_factory=True)
        kind, optional, choices, sub = classify(info.annotation)
        path = (*prefix, name)
        help_text = _help(info)
        if kind == "section":
            sub_default = default if isinstance(default, BaseModel) else None
            children = tuple(describe(sub, sub_default, path))
            out.append(FieldDescriptor(path, "section", default, optional, help=help_text, children=children))
        else:
            out.append(FieldDescriptor(path, kind, default, optional, choices, help_text))
    return out


def classify(annotation: Any) -> tuple[Kind, bool, tuple[str, ...], Any]:
    """(kind, optional, choices, nested model) of a field annotation."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(members) < len(get_args(annotation))
        if len(members) == 1:
            kind, _, choices, sub = classify(members[0])
            return kind, optional, choices, sub
        return "toml", optional, (), None
    if origin is Literal:
        return "choice", False, tuple(str(a) for a in get_args(annotation)), None
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return "choice", False, tuple(str(m.value) for m in annotation), None
        if issubclass(annotation, BaseModel):
            return "section", False, (), annotation
        for kind, typ in (("bool", bool), ("int", int), ("float", float), ("text", str)):
            if annotation is typ:
                return kind, False, (), None  # type: ignore[return-value]
    return "toml", False, (), None


def _help(info: Any) -> str:
    bounds = []
    for meta in info.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                bounds.append(f"{sign} {getattr(meta, attr)}")
    text = info.description or ""
    if bounds:
        text = f"{text} ({', '.join(bounds)})" if text else ", ".join(bounds)
    return text


def leaves(descriptors: list[FieldDescriptor]) -> list[FieldDescriptor]:
    """Every non-section field, depth first."""
    out = []
    for desc in descriptors:
        out.extend(leaves(list(desc.children)) if desc.kind == "section" else [desc])
    return out


# -- values <-> widget text ---------------------------------------------------------------------------------
def inline_toml(value: Any) -> str:
    """A value as TOML inline syntax: `[0, 1]`, `{batch_size = 8}`, `"text"`."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = [f"{k if BARE_KEY.match(str(k)) else json.dumps(str(k))} = {inline_toml(v)}"
                 for k, v in value.items() if v is not None]
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(inline_toml(v) for v in value if v is not None) + "]"
    return json.dumps(str(value))


def widget_value(desc: FieldDescriptor, value: Any) -> str | bool | None:
    """What the field's widget shows for `value`: a bool for switches, a choice or None for selects, text else."""
    if desc.kind == "bool":
        return bool(value) if value is not MISSING else False
    if value is MISSING or value is None:
        return None if desc.kind == "choice" else ""
    if desc.kind == "choice":
        return str(value.value if isinstance(value, enum.Enum) else value)
    if desc.kind == "toml":
        return inline_toml(value)
    return str(value)


def initial_values(descriptors: list[FieldDescriptor], data: dict[str, Any] | None = None
                   ) -> tuple[dict[str, Any], list[str]]:
    """Widget values per field key: from `data` (a spec dict, e.g. a run's spec.toml) where it has the field,
    else the default. Also returns the keys of `data` the form has no field for (dropped on a clone)."""
    data = data or {}
    values = {}
    for desc in leaves(descriptors):
        found = _lookup(data, desc.path)
        values[desc.key] = widget_value(desc, desc.default if found is MISSING else found)
    return values, _unknown_keys(data, descriptors)


def _lookup(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    current: Any = data
    for part in path:
        if not isinstance(current, dict) or part not in current:
            return MISSING
        current = current[part]
    return current


def _unknown_keys(data: dict[str, Any], descriptors: list[FieldDescriptor] | tuple[FieldDescriptor, ...],
                  prefix: str = "") -> list[str]:
    fields = {d.name: d for d in descriptors}
    unknown = []
    for key, value in data.items():
        desc = fields.get(key)
        if desc is None:
            if prefix or key not in SKIPPED:
                unknown.append(f"{prefix}{key}")
        elif desc.kind == "section" and isinstance(value, dict):
            unknown += _unknown_keys(value, desc.children, f"{prefix}{key}.")
    return unknown


def parse_value(desc: FieldDescriptor, raw: Any) -> Any:
    """Widget value -> spec value. Numbers that do not parse stay text, so the spec model reports them.
    Raises ValueError for TOML that does not parse. MISSING: leave the key out (the model's default or error)."""
    if desc.kind == "bool":
        return bool(raw)
    if raw is None or not str(raw).strip():
        if desc.optional:
            return None
        if desc.required:
            return MISSING
        if desc.kind in ("text", "int", "float"):
            return ""  # a cleared number is an error the model reports, never a silent default
        if desc.kind == "toml" and isinstance(desc.default, list | dict):
            return type(desc.default)()
        return MISSING
    text = str(raw) if desc.kind == "text" else str(raw).strip()
    if desc.kind in ("int", "float"):
        try:
            return int(text) if desc.kind == "int" else float(text)
        except ValueError:
            return text
    if desc.kind == "toml":
        return _parse_toml_value(text, desc.default)
    return text


def _parse_toml_value(text: str, default: Any) -> Any:
    if isinstance(default, list) and not text.startswith("["):
        text = f"[{text}]"  # `0, 1` is enough for a list
    elif isinstance(default, dict) and not text.startswith("{"):
        text = "{" + text + "}"  # `batch_size = 8` is enough for a table
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not TOML: {exc}") from None


# -- evaluating a form --------------------------------------------------------------------------------------
def build_data(stage: str, descriptors: list[FieldDescriptor], values: dict[str, Any]
               ) -> tuple[dict[str, Any], dict[str, str]]:
    """The nested spec dict the form describes, plus per-field errors of values that do not even parse."""
    data: dict[str, Any] = {"stage": stage}
    errors: dict[str, str] = {}
    for desc in leaves(descriptors):
        try:
            value = parse_value(desc, values.get(desc.key))
        except ValueError as exc:
            errors[desc.key] = str(exc)
            continue
        if value is MISSING:
            continue
        target = data
        for part in desc.path[:-1]:
            target = target.setdefault(part, {})
        target[desc.name] = value
    return data, errors


def evaluate(stage: str, values: dict[str, Any], descriptors: list[FieldDescriptor] | None = None,
             home: Any = None) -> FormState:
    """Validate the form as `jobs.launch` would: the stage's spec model, then the input run, the `then` chain
    and the GPU layout. The TOML shows as soon as the model accepts the spec; launch checks add errors."""
    descriptors = descriptors if descriptors is not None else describe_stage(stage)
    model = get_stage(stage).spec_model()
    data, errors = build_data(stage, descriptors, values)
    state = FormState(data=data, errors=errors)
    keys = {d.key for d in leaves(descriptors)}
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            state.errors.setdefault(error_key([str(p) for p in err["loc"]], keys), _short(err))
        state.message = explain(exc, model)
        return state
    if state.errors:  # a value that did not parse was left out: the spec is not what the form says
        state.message = _summary(state.errors)
        return state
    state.spec, state.toml = spec, spec_to_toml(spec)
    problems, state.warning = launch_problems(stage, spec, home)
    for key, problem in problems:
        state.errors.setdefault(key if key in keys else "", problem)
    if state.errors:
        state.message = _summary(state.errors)
    return state


def launch_problems(stage: str, spec: Any, home: Any = None) -> tuple[list[tuple[str, str]], str]:
    """What `jobs.launch` (or the worker, right after) would refuse, as (field key, message) pairs, and the
    layout warning (GPUs left unused)."""
    from experiments.runs.jobs import check_layout
    from experiments.runs.store import RunStore

    problems = []
    input_run = getattr(spec, "input_run", None)
    if get_stage(stage).needs_input and not input_run:
        problems.append(("input_run", "this stage reads another run's records: give that run's id"))
    elif input_run and home is not None:
        try:
            RunStore.open(input_run, home)
        except (FileNotFoundError, ValueError) as exc:
            problems.append(("input_run", str(exc)))
    if spec.then:
        from experiments.runs.pipeline import pipeline_from_chain

        try:
            STAGES.parse(pipeline_from_chain(spec.model_dump(mode="json")))
        except (SpecError, ValueError) as exc:
            problems.append(("then", str(exc)))
    warning = ""
    try:
        warning = check_layout(spec) or ""
    except ValueError as exc:
        problems.append(("gpus", str(exc)))
    return problems, warning


def _summary(errors: dict[str, str]) -> str:
    return "; ".join(f"{key or 'spec'}: {message}" for key, message in errors.items())


def error_key(loc: list[str], keys: set[str]) -> str:
    """The field an error belongs to: the longest prefix of its location that is a field ("" for the form)."""
    for end in range(len(loc), 0, -1):
        key = ".".join(loc[:end])
        if key in keys:
            return key
    return ""


def _short(err: dict[str, Any]) -> str:
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")
