"""A stage command's flags, generated from its spec model: one description of every field, for CLI and form alike.

`add_spec_args(parser, "inference")` walks the spec the way the Launch form does (`experiments.stages.form`) and
adds one flag per field, with the field's description, choices and default as help. Flags default to "not
given" (argparse.SUPPRESS), so the spec model applies its own defaults and a flag never repeats one. Naming:
a top-level field `chunk_size` is `--chunk-size`; a section's main field is the section (`dataset.source` is
`--dataset`, `backend.kind` `--backend`); `dataset` and `sampling` fields read flat (`--limit`, `--max-tokens`)
where that name is free; any other nested field is `--section-field` (`--backend-options`). A command may name a
field positionally (`grade RUN` is `input_run`), add alias flags, and add convenience flags (`Extra`) that say in
their help where they land in the spec.
"""

from __future__ import annotations

import argparse
import enum
import tomllib
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from experiments.stages import STAGES
from experiments.stages.form import MISSING, FieldDescriptor, describe_stage, inline_toml

FLAT = {"dataset": {"limit", "offset", "split", "template", "system_prompt", "domain", "columns"},
        "sampling": {"n", "temperature", "top_p", "max_tokens", "seed", "stop", "logprobs", "ignore_eos"}}
MAIN_FIELDS = ("source", "kind")  # `--dataset`, `--backend`, `--oracle-backend`
ALWAYS_SKIPPED = ("group",)  # set by pipelines, not typed
DEST = "spec:"


@dataclass(frozen=True)
class Extra:
    """A convenience flag that is no spec field: `apply(data, value)` puts its value into the spec dict, at
    `lands` (said in its help)."""

    flags: tuple[str, ...]
    lands: str
    help: str
    apply: Callable[[dict[str, Any], Any], None]
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return "extra:" + self.flags[0].lstrip("-")


def option(section: str, name: str) -> Callable[[dict[str, Any], Any], None]:
    """An `Extra.apply` that sets `<section>.options.<name>` (an engine option: base_url, batch_size, ...)."""
    def apply(data: dict[str, Any], value: Any) -> None:
        data.setdefault(section, {}).setdefault("options", {})[name] = value
    return apply


def setter(path: str, value: Any = None) -> Callable[[dict[str, Any], Any], None]:
    """An `Extra.apply` that sets the field at dotted `path` to `value` (or to the flag's value)."""
    def apply(data: dict[str, Any], given: Any) -> None:
        put(data, tuple(path.split(".")), given if value is None else value)
    return apply


def engine_extras(section: str = "backend", prefix: str = "", names: tuple[str, ...] = ("base-url", "batch-size",
                                                                                      "api-key-env")
                  ) -> tuple[Extra, ...]:
    """`--base-url`, `--batch-size`, `--api-key-env`: the engine options a command line needs most."""
    extras = (
        Extra((f"--{prefix}base-url",), f"{section}.options.base_url", "an OpenAI-compatible endpoint, e.g. "
              "http://127.0.0.1:8000/v1 (kind openai_compat)", option(section, "base_url"), {"metavar": "URL"}),
        Extra((f"--{prefix}batch-size",), f"{section}.options.batch_size", "prompts per engine batch (hf)",
              option(section, "batch_size"), {"type": int, "metavar": "N"}),
        Extra((f"--{prefix}api-key-env",), f"{section}.options.api_key_env", "the environment variable holding "
              "the endpoint's API key (never the key itself)", option(section, "api_key_env"), {"metavar": "VAR"}),
    )
    return tuple(e for e in extras if e.flags[0].removeprefix(f"--{prefix}") in names)


@dataclass
class SpecArgs:
    """The flags `add_spec_args` made: `build(args)` turns the given ones into a spec dict for the stage."""

    stage: str
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)  # dest -> spec path
    extras: list[Extra] = field(default_factory=list)
    sections: dict[str, BaseModel] = field(default_factory=dict)  # section -> the spec's default for it

    def build(self, args: argparse.Namespace) -> dict[str, Any]:
        """The given flags as a spec dict. A section a flag touches starts from the spec's own default for it
        (a judge's backend is openai_compat, a guided run's dataset arith), so one flag changes one field."""
        data: dict[str, Any] = {"stage": self.stage}
        for dest, path in self.fields.items():
            if hasattr(args, dest):
                put(data, path, getattr(args, dest))
        for extra in self.extras:
            value = getattr(args, extra.dest, None)
            if value is not None and value is not False:
                extra.apply(data, value)
        for name, default in self.sections.items():
            if isinstance(data.get(name), dict):
                data[name] = merged(default.model_dump(), data[name])
        return data


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = data
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def add_spec_args(parser: argparse.ArgumentParser, stage: str, *, positional: dict[str, dict[str, Any]] | None = None,
                  skip: tuple[str, ...] = (), aliases: dict[str, tuple[str, ...]] | None = None,
                  extras: tuple[Extra, ...] = (), only: tuple[str, ...] | None = None) -> SpecArgs:
    """One flag per field of `stage`'s spec (sections become argument groups). `positional`: field key -> extra
    add_argument kwargs (metavar, nargs) for fields given positionally; `skip`: field keys (or sections) left
    out; `only`: the field keys kept (and their sections); `aliases`: field key -> more flag strings."""
    positional, aliases = positional or {}, aliases or {}
    spec_args = SpecArgs(stage)
    model = STAGES.get(stage).spec_model()
    descriptors = describe_stage(stage)
    leaf_list = list(_leaves(descriptors))
    top = {d.name for d in descriptors}
    counts: dict[str, int] = {}
    for d in leaf_list:
        counts[d.name] = counts.get(d.name, 0) + 1
    groups: dict[str, Any] = {}
    spec_args.sections = {d.name: d.default for d in descriptors if isinstance(d.default, BaseModel)}
    for desc in leaf_list:
        if _skipped(desc.key, skip, only):
            continue
        annotation = annotation_at(model, desc.path)
        kwargs = value_kwargs(desc, annotation)
        dest = DEST + desc.key
        spec_args.fields[dest] = desc.path
        if desc.key in positional:
            extra = positional[desc.key]
            nargs = extra.get("nargs", kwargs.get("nargs"))
            kwargs.update({k: v for k, v in extra.items() if k != "nargs"})
            if nargs is not None:
                kwargs["nargs"] = nargs
            kwargs.pop("required", None)
            parser.add_argument(dest, help=help_text(desc, positional=True), default=argparse.SUPPRESS, **kwargs)
            continue
        flags = (flag_name(desc, counts, top), *aliases.get(desc.key, ()))
        target = parser
        if len(desc.path) > 1:
            section = desc.path[0]
            if section not in groups:
                groups[section] = parser.add_argument_group(f"{section} ({_section_help(descriptors, section)})")
            target = groups[section]
        target.add_argument(*flags, dest=dest, help=help_text(desc), default=argparse.SUPPRESS, **kwargs)
    if extras:
        group = parser.add_argument_group("shortcuts (each lands in the spec where its help says)")
        for extra in extras:
            group.add_argument(*extra.flags, dest=extra.dest, help=f"{extra.help} [spec: {extra.lands}]",
                               default=None, **extra.kwargs)
            spec_args.extras.append(extra)
    return spec_args


def _skipped(key: str, skip: tuple[str, ...], only: tuple[str, ...] | None) -> bool:
    def under(names: tuple[str, ...]) -> bool:
        return any(key == n or key.startswith(n + ".") for n in names)
    if under(ALWAYS_SKIPPED) or under(skip):
        return True
    return only is not None and not under(only)


def _leaves(descriptors: list[FieldDescriptor]) -> list[FieldDescriptor]:
    out: list[FieldDescriptor] = []
    for d in descriptors:
        out.extend(_leaves(list(d.children)) if d.kind == "section" else [d])
    return out


def _section_help(descriptors: list[FieldDescriptor], section: str) -> str:
    desc = next((d for d in descriptors if d.name == section), None)
    return (desc.help if desc and desc.help else f"the spec's [{section}] table")


def flag_name(desc: FieldDescriptor, counts: dict[str, int], top: set[str]) -> str:
    path = desc.path
    if len(path) == 2 and path[1] in MAIN_FIELDS:
        return "--" + path[0].replace("_", "-")
    if len(path) == 2 and path[1] in FLAT.get(path[0], ()) and counts[path[1]] == 1 and path[1] not in top:
        return "--" + path[1].replace("_", "-")
    return "--" + "-".join(path).replace("_", "-")


def help_text(desc: FieldDescriptor, positional: bool = False) -> str:
    text = desc.help or desc.name.replace("_", " ")
    default = desc.default
    if positional:
        return text.replace("%", "%%")
    if default is MISSING:
        text += " (required)"
    elif default not in (None, "", [], {}) and not isinstance(default, BaseModel) and desc.kind != "bool":
        shown = default.value if isinstance(default, enum.Enum) else default
        text += f" (default: {shown if isinstance(shown, str | int | float) else inline_toml(shown)})"
    elif desc.kind == "bool":
        text += f" (default: {'on' if default else 'off'})"
    if len(desc.path) > 1:
        text += f" [spec: {desc.key}]"
    return text.replace("%", "%%")


# -- values ---------------------------------------------------------------------------------------------------
def annotation_at(model: type[BaseModel], path: tuple[str, ...]) -> Any:
    current: Any = model
    annotation: Any = None
    for part in path:
        annotation = current.model_fields[part].annotation
        current = _model_in(annotation)
    return annotation


def _model_in(annotation: Any) -> Any:
    for arg in (annotation, *get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def value_kwargs(desc: FieldDescriptor, annotation: Any) -> dict[str, Any]:
    """add_argument kwargs that parse the field's values from the command line."""
    if desc.kind == "bool":
        return {"action": argparse.BooleanOptionalAction}
    if desc.kind == "choice":
        return {"choices": list(desc.choices)}
    if desc.kind in ("int", "float", "text"):
        return {"type": {"int": int, "float": float, "text": str}[desc.kind], "metavar": _metavar(desc)}
    annotation = _strip_optional(annotation)
    origin = get_origin(annotation)
    if desc.name == "then":
        return {"nargs": "+", "type": then_entry, "metavar": "STAGE"}
    if origin is list:
        (item,) = get_args(annotation) or (str,)
        return {"nargs": "+", "type": scalar_parser(item), "metavar": _item_metavar(item, desc.name)}
    if origin is dict:
        _, value = get_args(annotation) or (str, Any)
        return {"nargs": "+", "type": pair_parser(value), "action": MergePairs, "metavar": "KEY=VALUE"}
    return {"type": toml_value, "metavar": "TOML"}


def _metavar(desc: FieldDescriptor) -> str:
    return {"int": "N", "float": "X"}.get(desc.kind, desc.name.upper().split("_")[-1] if desc.kind == "text" else "")


def _item_metavar(item: Any, name: str) -> str:
    """`RUN` for `weak_runs`, `FILE` for `files`, `A,B` for a list of pairs."""
    if get_origin(item) is list:
        return "A,B"
    word = name.split("_")[-1].upper()
    return word[:-1] if word.endswith("S") and len(word) > 3 else word


def scalar_parser(typ: Any) -> Callable[[str], Any]:
    """Text -> a value of `typ` (int, float, str, a list as `a,b`, or anything as TOML)."""
    typ = _strip_optional(typ)
    if typ in (int, float):
        return _named(typ, typ.__name__)
    if typ is str:
        return str
    if get_origin(typ) is list:
        (item,) = get_args(typ) or (str,)
        inner = scalar_parser(item)
        return _named(lambda text: [inner(p.strip()) for p in text.split(",") if p.strip()], "list (a,b)")
    if get_origin(typ) is Literal:
        return str
    return toml_value


def _named(func: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return func(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {name}: {text!r}") from None
    parse.__name__ = name
    return parse


def toml_value(text: str) -> Any:
    """A TOML value (`[1, 2]`, `{a = 1}`, `true`, `3.5`); anything that does not parse stays text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def pair_parser(value_type: Any) -> Callable[[str], tuple[str, Any]]:
    parse = scalar_parser(value_type) if value_type is not Any else toml_value

    def pair(text: str) -> tuple[str, Any]:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
        return key.strip(), parse(raw.strip())
    pair.__name__ = "KEY=VALUE"
    return pair


class MergePairs(argparse.Action):
    """`--options a=1 b=2 --options c=3`: one dict."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        current = dict(getattr(namespace, self.dest, None) or {})
        current.update(dict(values))
        setattr(namespace, self.dest, current)


def then_entry(text: str) -> dict[str, Any]:
    """`grading` -> {"stage": "grading"}; `{stage = "grading", timeout = 5}` -> that table."""
    if text.lstrip().startswith("{"):
        value = toml_value(text)
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(f"not a TOML table: {text!r}")
        return value
    return {"stage": text}
