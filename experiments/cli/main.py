"""`confconsole` headless commands: `main(argv)`. Core commands live here; each stage adds its own from the registry.

The console script (`tui_app.entry`) opens the TUI when called without a command and hands everything else here,
so this package never imports the UI.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from experiments.cli.common import add_follow_args, follow_chain, home_of
from experiments.demo import DEMO_BATCH, DEMO_SOURCE, LOOP_HELDOUT, LOOP_SFT_STEPS, LOOP_TRAIN
from experiments.runs import locations
from experiments.specs import DEFAULT_MAX_TOKENS
from experiments.stages import STAGES
from experiments.textsafe import inert

# Command modules that belong to no stage. Stage commands come from the registry. A module that fails to import
# fails the CLI loudly: a broken module must never silently lose its commands.
CORE_COMMAND_MODULES = ("experiments.datasets.cli", "experiments.cli.engines")

_home = home_of


def cmd_demo(args: argparse.Namespace) -> int:
    from experiments import api
    from experiments.demo import demo_spec
    from experiments.report.accuracy import format_accuracy

    if args.loop:
        return cmd_demo_loop(args)
    started = time.monotonic()
    spec = demo_spec(limit=args.limit, model=args.model, n=args.n, max_tokens=args.max_tokens,
                     batch_size=args.batch_size, chunk_size=args.chunk_size, source=args.dataset)
    run_id = api.launch(spec, _home(args))
    print(f"demo: {spec.title}\nhome: {_home(args)}")

    def done(stores: list[Any]) -> None:
        from experiments.demo_report import step_times_line

        summary = stores[-1].manifest().get("summary", {})
        print("\n" + inert(format_accuracy(summary.get("accuracy", []))))
        tokens = summary.get("tokens") or {}
        if tokens:
            print("confidence tokens: " + ", ".join(f"{inert(str(t))} {n}" for t, n in sorted(tokens.items())))
        print(step_times_line(stores, time.monotonic() - started))
        print(f"\nnext: browse these runs and their records in the console: confconsole --home {_home(args)}")

    return follow_chain(run_id, args, done)


def cmd_demo_loop(args: argparse.Namespace) -> int:
    from experiments import api
    from experiments.demo import loop_spec
    from experiments.demo_report import print_loop_result

    spec = loop_spec(train=args.train, heldout=args.heldout, model=args.model, sft_steps=args.sft_steps,
                     oracle_model=args.oracle_model or args.model, oracle_url=args.oracle_url,
                     oracle_key_env=args.oracle_key_env)
    run_id = api.launch(spec, _home(args))
    print(f"demo --loop: {spec['title']}\npipeline {run_id}, home: {_home(args)}")
    return follow_chain(run_id, args, lambda stores: print_loop_result(run_id, _home(args)))


def cmd_runs(args: argparse.Namespace) -> int:
    from experiments.runs.store import RunStore

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
    from experiments.runs.state import age

    print(f"{'id':<34} {'stage':<10} {'status':<12} {'records':>8} {'errors':>7}  created")
    for r in rows:
        print(f"{r['id']:<34} {r['stage']:<10} {r['status']:<12} {r['records'] or 0:>8} {r['errors'] or 0:>7}  "
              f"{age(r['created'])}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from experiments.report.accuracy import format_accuracy
    from experiments.runs.state import load_state
    from experiments.runs.store import RunStore

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
    for key in ("title", "group", "pipeline", "step", "inputs", "error"):
        if manifest.get(key):
            print(inert(f"{key:<8} {manifest[key]}"))
    summary = manifest.get("summary", {})
    if summary.get("accuracy"):
        print("\n" + inert(format_accuracy(summary["accuracy"])))
    other = {k: v for k, v in summary.items() if k != "accuracy"}
    if other:
        print("\nsummary  " + json.dumps(other, default=str))
    errors = store.errors()
    if errors:
        print(f"\n{len(errors)} bad items:")
        for e in errors[:20]:
            print(inert(f"  {e['item_id']}: {e['reason']} {e.get('detail', '')}"))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from experiments import api

    run_id = api.resume(args.run, _home(args), force=args.force)
    print(f"resumed {run_id}")
    if args.detach:
        return 0
    return follow_chain(run_id, args, lambda stores: None)


def cmd_cancel(args: argparse.Namespace) -> int:
    from experiments import api

    print(f"cancelled {api.cancel(args.run, _home(args))}")
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    import tomllib

    from experiments import api
    from experiments.stages import parse_spec

    try:
        data = tomllib.loads(Path(args.spec).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{args.spec}: not valid TOML: {exc}") from None
    spec = parse_spec(data)
    run_id = api.launch(spec, _home(args))
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
    demo.add_argument("--dataset", default=DEMO_SOURCE, help="arith (default: a mix of right and wrong) or "
                      "gsm8k (hard for a 135M model), or any source")
    demo.add_argument("--model", default="smollm2-135m")
    demo.add_argument("--n", type=int, default=1)
    demo.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    demo.add_argument("--batch-size", type=int, default=DEMO_BATCH, help="rows decoding together")
    demo.add_argument("--chunk-size", type=int, default=8)
    demo.add_argument("--quiet", action="store_true", help="no progress lines")
    demo.add_argument("--loop", action="store_true", help="the whole confidence loop instead: inference -> "
                      "grading -> tagging -> SFT -> evaluation on held-out questions -> delegation")
    demo.add_argument("--train", type=int, default=LOOP_TRAIN, help="--loop: training questions (arith rows "
                      "from 0)")
    demo.add_argument("--heldout", type=int, default=LOOP_HELDOUT, help="--loop: held-out questions (arith rows "
                      "from 400, never trained on)")
    demo.add_argument("--sft-steps", type=int, default=LOOP_SFT_STEPS, help="--loop: LoRA optimizer steps")
    demo.add_argument("--oracle-model", help="--loop: the big model answers are delegated to (default: the "
                      "small model itself, through hf)")
    demo.add_argument("--oracle-url", help="--loop: an OpenAI-compatible endpoint serving --oracle-model")
    demo.add_argument("--oracle-key-env", help="--loop: the environment variable holding that endpoint's key")
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
    add_follow_args(resume)
    resume.set_defaults(func=cmd_resume)
    cancel = sub.add_parser("cancel", help="stop a run (the chunk in flight is dropped)")
    cancel.add_argument("run")
    cancel.set_defaults(func=cmd_cancel)
    launch = sub.add_parser("run", help="launch a run from a spec TOML file")
    launch.add_argument("spec")
    add_follow_args(launch)
    launch.set_defaults(func=cmd_launch)
    sub.add_parser("tui", help="open the TUI (the default with no command)")
    for module in CORE_COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    for stage in STAGES.values():
        stage.register_cli(sub)
    for action in sub.choices.values():  # --home works before or after the subcommand
        if not any("--home" in a.option_strings for a in action._actions):
            action.add_argument("--home", default=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.home:
        os.environ["CONFCONSOLE_HOME"] = str(Path(args.home).expanduser().resolve())
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(inert(f"confconsole: error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted (runs keep going in their workers; `confconsole runs` lists them)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
