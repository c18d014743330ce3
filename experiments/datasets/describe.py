"""What a dataset spec will load, described before anything runs (the `datasets` command, the TUI)."""

from __future__ import annotations

from typing import Any

from experiments.datasets.base import DatasetSpec
from experiments.datasets.files import count_rows
from experiments.datasets.sources import SOURCES, STRUCTURAL, Source, plan_load


def resolve_template(spec: DatasetSpec, source: Source | None = None, domain: str | None = None) -> str:
    """The prompt template a spec renders with: the spec's, else the source's, else the domain's."""
    from experiments.prompts import DOMAIN_TEMPLATE

    if spec.template:
        return spec.template
    if source is None:
        source = SOURCES.get(spec.source)
    if source is not None and source.template:
        return source.template
    domain = domain or spec.domain or (source.domain if source else "gsm8k")
    return DOMAIN_TEMPLATE.get(domain, "plain")


def effective_columns(spec: DatasetSpec, source: Source | None) -> dict[str, str]:
    """Our field -> the column it is read from, the spec's mapping over the source's defaults."""
    columns = {"question": source.question if source else "question",
               "answer": source.answer if source else "answer"}
    if source is not None and source.solution:
        columns["solution"] = source.solution
    if source is not None:
        columns.update(source.context_columns)
    columns.update(spec.columns)
    return {k: v for k, v in columns.items() if k in STRUCTURAL or v}


def describe_source(name: str, spec: DatasetSpec | None = None) -> dict[str, Any]:
    """Name, domain, template, files or hub name, splits and (for local data) the row count."""
    spec = spec or DatasetSpec(source=name)
    plan = plan_load(spec)
    source = plan.source
    rows: int | None = None
    if plan.paths:
        try:
            rows = sum(count_rows(path, spec.format) for path in plan.paths)
        except (OSError, ValueError):
            rows = None
    return {
        "name": name,
        "source": source.name if source else None,
        "guessed": plan.guessed,
        "description": source.description if source else "local file" if plan.paths else "hub dataset",
        "domain": spec.domain or (source.domain if source else "gsm8k"),
        "template": resolve_template(spec, source),
        "files": [str(path) for path in plan.paths],
        "hub": plan.hub if not plan.paths else (source.hub if source else None),
        "split": plan.split,
        "splits": list(source.splits) if source else [],
        "hub_splits": list(source.hub_splits) if source else [],
        "columns": effective_columns(spec, source),
        "rows": rows,
        "where": plan.where(),
        "id_prefix": plan.prefix,
    }


def list_sources() -> list[dict[str, Any]]:
    """One row per registered source for the `datasets` table; a broken install shows as an error row."""
    out = []
    for name in SOURCES:
        try:
            out.append(describe_source(name))
        except (OSError, ValueError) as exc:
            source = SOURCES[name]
            out.append({"name": name, "domain": source.domain, "template": source.template or "",
                        "where": f"error: {exc}", "rows": None, "description": source.description})
    return out
