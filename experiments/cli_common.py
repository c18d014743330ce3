"""What every stage's CLI module shares: the home, following a run (and its `then` chain), launching a spec."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments import locations
from experiments.textsafe import inert


def home_of(args: argparse.Namespace) -> Path:
    return locations.home(getattr(args, "home", None))


def add_follow_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detach", action="store_true", help="return at once; watch it with the TUI or `show`")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def launch_and_follow(spec: Any, args: argparse.Namespace,
                      on_done: Callable[[list[Any]], None] | None = None) -> int:
    from experiments import jobs

    run_id = jobs.launch(spec, home_of(args))
    print(f"launched {run_id}")
    if getattr(args, "detach", False):
        return 0
    return follow_chain(run_id, args, on_done or (lambda stores: None))


def follow_chain(run_id: str, args: argparse.Namespace, on_done: Callable[[list[Any]], None]) -> int:
    """Follow a run and every `then` run it launches; print a summary per stage."""
    from experiments.chains import next_store
    from experiments.cli_progress import follow
    from experiments.store import RunStore

    stores = [RunStore.open(run_id, home_of(args))]
    while True:
        store = stores[-1]
        print(f"\n== {store.manifest().get('stage')} run {store.run_id}")
        state = follow(store, quiet=getattr(args, "quiet", False))
        status = store.effective_status()
        print(f"   {status}: {inert(summary_line(store.manifest(), state))}")
        if status != "done":
            print(f"   resume with: confconsole resume {store.run_id}")
            return 1
        nxt = next_store(store, home_of(args))
        if nxt is None:
            break
        stores.append(nxt)
    on_done(stores)
    return 0


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


def engine_options(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """Backend options from the CLI flags that were given (`base_url`, `batch_size`, `api_key_env`, ...)."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None)}
