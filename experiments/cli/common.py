"""What every stage's CLI module shares: the home, following a run (and its `then` chain), launching a spec."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments.runs import locations
from experiments.textsafe import inert


def home_of(args: argparse.Namespace) -> Path:
    return locations.home(getattr(args, "home", None))


def add_follow_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("following the run")
    group.add_argument("--detach", action="store_true", help="return once the run is launched; it keeps going "
                       "(watch it with `confconsole` or `confconsole show RUN`)")
    group.add_argument("--quiet", action="store_true", help="no progress lines, only the result")


def stage_command(sub: argparse._SubParsersAction, name: str, stage: str, *, help: str,  # noqa: A002
                  description: str | None = None, group: str = "run",
                  title: Callable[[dict[str, Any]], str] | None = None,
                  prepare: Callable[[dict[str, Any], argparse.Namespace], None] | None = None,
                  on_done: Callable[[list[Any]], None] | None = None, **spec_kwargs: Any
                  ) -> tuple[argparse.ArgumentParser, Any]:
    """A command that launches one `stage` run from flags generated from its spec (`spec_args.add_spec_args`,
    which takes `spec_kwargs`), then follows it. `prepare(data, args)` adjusts the spec dict before validation;
    `title(data)` names the run when --title is not given; `on_done(stores)` prints the result."""
    from experiments.cli.commands import add_command
    from experiments.cli.spec_args import add_spec_args

    parser = add_command(sub, name, group=group, help=help, description=description)
    spec_args = add_spec_args(parser, stage, **spec_kwargs)
    add_follow_args(parser)

    def handler(args: argparse.Namespace) -> int:
        data = spec_args.build(args)
        if prepare is not None:
            prepare(data, args)
        if title is not None and not data.get("title"):
            data["title"] = title(data)
        from experiments.stages import parse_spec

        return launch_and_follow(parse_spec(data), args, on_done)

    parser.set_defaults(func=handler, spec_args=spec_args)
    return parser, spec_args


def launch_and_follow(spec: Any, args: argparse.Namespace,
                      on_done: Callable[[list[Any]], None] | None = None) -> int:
    from experiments import api

    run_id = api.launch(spec, home_of(args))
    print(f"launched {run_id}")
    if getattr(args, "detach", False):
        return 0
    return follow_chain(run_id, args, on_done or (lambda stores: None))


def follow_chain(run_id: str, args: argparse.Namespace, on_done: Callable[[list[Any]], None]) -> int:
    """Follow a run, or each step of a pipeline as it starts; print a summary per run. `on_done` gets the runs."""
    from experiments.runs.jobs import wait
    from experiments.runs.lineage import is_pipeline, step_stores
    from experiments.runs.store import RunStore

    home = home_of(args)
    top = RunStore.open(run_id, home)
    if not is_pipeline(top):
        if not _follow_one(top, args, top.manifest().get("stage", "run")):
            return 1
        on_done([top])
        return 0
    followed: list[Any] = []
    while True:
        seen = {s.run_id for s in followed}
        pending = [(name, s) for name, s in step_stores(top, home) if s is not None and s.run_id not in seen]
        if not pending:
            if top.effective_status() not in ("running", "queued"):
                break
            time.sleep(0.2)
            continue
        name, store = pending[0]
        if not _follow_one(store, args, f"step {name}", pipeline=top.run_id):
            return 1
        followed.append(store)
    status = wait(top.run_id, home, timeout=120)
    if status != "done":
        print(f"\npipeline {top.run_id} {status}: {inert(str(top.manifest().get('error') or ''))}")
        print(f"   resume with: confconsole resume {top.run_id}")
        return 1
    on_done(followed)
    return 0


def _follow_one(store: Any, args: argparse.Namespace, label: str, pipeline: str = "") -> bool:
    from experiments.cli.progress import follow

    stage = store.manifest().get("stage", "run")
    print(f"\n== {label}: {stage} run {store.run_id}")
    state = follow(store, quiet=getattr(args, "quiet", False), label=str(stage))
    status = store.effective_status()
    print(f"   {status}: {inert(summary_line(store.manifest(), state))}")
    if status != "done":
        print(f"   resume with: confconsole resume {pipeline or store.run_id}")
        return False
    return True


def summary_line(manifest: dict[str, Any], state: Any) -> str:
    counts = manifest.get("counts", {})
    parts = [f"{counts.get('records', state.done)} records", f"{counts.get('errors', state.error_count)} errors"]
    elapsed = (manifest.get("finished") or manifest.get("updated", 0)) - manifest.get("started", 0)
    if manifest.get("started"):
        parts.append(f"{elapsed:.1f}s")
    tps = state.latest_metric("tokens_per_s")
    if tps:
        parts.append(f"{tps:.1f} tokens/s")
    load = state.latest_metric("model_load_s")
    if load is not None:
        parts.append(f"model load {load:.1f}s")
    return ", ".join(parts)
