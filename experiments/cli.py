"""`confconsole` command line: no arguments opens the TUI; subcommands run everything headless."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments import locations

OPTIONAL_COMMANDS: list[tuple[str, str]] = [
    ("experiments.grading.cli", "register"),
    ("experiments.datasets.cli", "register"),
    ("experiments.cli_engines", "register"),
    ("experiments.cli_judge", "register"),
]


def _home(args: argparse.Namespace) -> Path:
    return locations.home(args.home)


def cmd_demo(args: argparse.Namespace) -> int:
    from experiments import jobs
    from experiments.pipelines import demo_spec
    from experiments.stages.report import format_accuracy

    spec = demo_spec(limit=args.limit, model=args.model, n=args.n, max_tokens=args.max_tokens,
                     batch_size=args.batch_size, chunk_size=args.chunk_size, source=args.dataset)
    run_id = jobs.launch(spec, _home(args))
    print(f"demo: {spec.title}\nhome: {_home(args)}")
    return follow_chain(run_id, args, lambda stores: print("\n" + format_accuracy(
        stores[-1].manifest().get("summary", {}).get("accuracy", []))))


def follow_chain(run_id: str, args: argparse.Namespace, on_done: Callable[[list[Any]], None]) -> int:
    """Follow a run and every `then` run it launches; print a summary per stage."""
    from experiments.cli_progress import follow
    from experiments.store import RunStore

    stores = [RunStore.open(run_id, _home(args))]
    while True:
        store = stores[-1]
        print(f"\n== {store.manifest().get('stage')} run {store.run_id}")
        state = follow(store, quiet=getattr(args, "quiet", False))
        status = store.effective_status()
        manifest = store.manifest()
        print(f"   {status}: {_summary_line(manifest, state)}")
        if status != "done":
            print(f"   resume with: confconsole resume {store.run_id}")
            return 1
        nxt = manifest.get("next_run")
        if not nxt:
            break
        stores.append(RunStore.open(nxt, _home(args)))
    on_done(stores)
    return 0


def _summary_line(manifest: dict[str, Any], state: Any) -> str:
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


def cmd_runs(args: argparse.Namespace) -> int:
    from experiments.store import RunStore

    rows = []
    for store in RunStore.list(_home(args)):
        m = store.manifest()
        counts = m.get("counts", {})
        rows.append({"id": store.run_id, "stage": m.get("stage"), "status": store.effective_status(),
                     "records": counts.get("records"), "errors": counts.get("errors"),
                     "created": m.get("created"), "title": m.get("title", ""), "group": m.get("group")})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no runs under {locations.runs_dir(_home(args))}")
        return 0
    from experiments.runstate import age

    print(f"{'id':<34} {'stage':<10} {'status':<12} {'records':>8} {'errors':>7}  created")
    for r in rows:
        print(f"{r['id']:<34} {r['stage']:<10} {r['status']:<12} {r['records'] or 0:>8} {r['errors'] or 0:>7}  "
              f"{age(r['created'])}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from experiments.runstate import load_state
    from experiments.stages.report import format_accuracy
    from experiments.store import RunStore

    store = RunStore.open(args.run, _home(args))
    manifest = store.manifest()
    manifest["effective_status"] = store.effective_status()
    state = load_state(store.events_path)
    if args.json:
        print(json.dumps({"manifest": manifest, "errors": store.errors(), "progress": {
            "done": state.done, "total": state.total, "unit": state.unit}}, indent=2, default=str))
        return 0
    print(f"run      {store.run_id}\nstage    {manifest.get('stage')}\nstatus   {manifest['effective_status']}")
    print(f"folder   {store.dir}\nprogress {state.done}/{state.total} {state.unit}")
    for key in ("title", "group", "inputs", "next_run", "error"):
        if manifest.get(key):
            print(f"{key:<8} {manifest[key]}")
    summary = manifest.get("summary", {})
    if summary.get("accuracy"):
        print("\n" + format_accuracy(summary["accuracy"]))
    other = {k: v for k, v in summary.items() if k != "accuracy"}
    if other:
        print("\nsummary  " + json.dumps(other, default=str))
    errors = store.errors()
    if errors:
        print(f"\n{len(errors)} bad items:")
        for e in errors[:20]:
            print(f"  {e['item_id']}: {e['reason']} {e.get('detail', '')}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from experiments import jobs

    run_id = jobs.resume(args.run, _home(args), force=args.force)
    print(f"resumed {run_id}")
    if args.detach:
        return 0
    return follow_chain(run_id, args, lambda stores: None)


def cmd_cancel(args: argparse.Namespace) -> int:
    from experiments import jobs

    print(f"cancelled {jobs.cancel(args.run, _home(args))}")
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    import tomllib

    from experiments import jobs
    from experiments.specs import parse_spec

    spec = parse_spec(tomllib.loads(Path(args.spec).read_text()))
    run_id = jobs.launch(spec, _home(args))
    print(f"launched {run_id}")
    if args.detach:
        return 0
    return follow_chain(run_id, args, lambda stores: None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="confconsole", description=__doc__)
    parser.add_argument("--home", help="data home (default $CONFCONSOLE_HOME or the platform data dir)")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="inference -> grading -> tagging on the demo dataset, embedded model")
    demo.add_argument("--limit", type=int, default=20)
    demo.add_argument("--dataset", default="gsm8k")
    demo.add_argument("--model", default="smollm2-135m")
    demo.add_argument("--n", type=int, default=1)
    demo.add_argument("--max-tokens", type=int, default=256)
    demo.add_argument("--batch-size", type=int, default=8)
    demo.add_argument("--chunk-size", type=int, default=8)
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(func=cmd_demo)
    runs = sub.add_parser("runs", help="list runs")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=cmd_runs)
    show = sub.add_parser("show", help="a run's manifest and summary")
    show.add_argument("run")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)
    resume = sub.add_parser("resume", help="restart a run, skipping done chunks")
    resume.add_argument("run")
    resume.add_argument("--force", action="store_true", help="redo every chunk")
    resume.add_argument("--detach", action="store_true", help="return at once; watch it in the TUI")
    resume.add_argument("--quiet", action="store_true")
    resume.set_defaults(func=cmd_resume)
    cancel = sub.add_parser("cancel", help="stop a run (the chunk in flight is dropped)")
    cancel.add_argument("run")
    cancel.set_defaults(func=cmd_cancel)
    launch = sub.add_parser("run", help="launch a run from a spec TOML file")
    launch.add_argument("spec")
    launch.add_argument("--detach", action="store_true")
    launch.add_argument("--quiet", action="store_true")
    launch.set_defaults(func=cmd_launch)
    tui = sub.add_parser("tui", help="open the TUI (the default with no command)")
    tui.set_defaults(func=cmd_tui)
    for module, attr in OPTIONAL_COMMANDS:
        try:
            register = getattr(__import__(module, fromlist=[attr]), attr)
        except (ImportError, AttributeError):
            continue
        register(sub)
    for action in sub.choices.values():  # --home works before or after the subcommand
        if not any("--home" in a.option_strings for a in action._actions):
            action.add_argument("--home", default=argparse.SUPPRESS)
    return parser


def cmd_tui(args: argparse.Namespace) -> int:
    from tui_app.app import make_app

    make_app(home=_home(args)).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.home:
        os.environ["CONFCONSOLE_HOME"] = str(Path(args.home).expanduser().resolve())
    func = getattr(args, "func", None) or cmd_tui
    try:
        return func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"confconsole: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted (runs keep going in their workers; `confconsole runs` lists them)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
