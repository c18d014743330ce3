"""Watching and managing runs from the command line: `runs`, `show`, `resume`, `cancel`, `run SPEC`, and the two
ways to open the console (`tui`, `web`; the console script opens them, this package never imports the UI).

Text for people by default (aligned columns, tables); `--json` for scripts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from experiments.cli.commands import add_command
from experiments.cli.common import add_follow_args, follow_chain, home_of
from experiments.runs import locations
from experiments.textsafe import inert

RUN_HELP = "a run id, or a prefix of one that names a single run (`confconsole runs` lists them)"


def cmd_runs(args: argparse.Namespace) -> int:
    from experiments.runs.store import RunStore
    from experiments.views.runs import RunsIndex

    home = home_of(args)
    if args.json:
        rows = []
        for store in RunStore.list(home):
            m = store.manifest()
            counts = m.get("counts", {})
            rows.append({"id": store.run_id, "stage": m.get("stage"), "status": store.effective_status(),
                         "records": counts.get("records"), "errors": counts.get("errors"),
                         "created": m.get("created"), "title": m.get("title", ""), "group": m.get("group")})
        print(json.dumps(rows, indent=2))
        return 0
    rows = RunsIndex(home).rows()
    if not rows:
        print(f"no runs under {locations.runs_dir(home)} yet; `confconsole demo` makes three")
        return 0
    from tabulate import tabulate

    table = [[r.label, r.stage, r.status, r.progress, *r.cells()[1:5], inert(r.title)[:48]] for r in rows]
    print(tabulate(table, headers=["id", "stage", "status", "progress", "records", "errors", "result", "created",
                                   "title"], tablefmt="simple", disable_numparse=True))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from experiments.runs.state import load_state
    from experiments.runs.store import RunStore
    from experiments.views.show import show_text

    store = RunStore.open(args.run, home_of(args))
    state = load_state(store.events_path)
    if args.json:
        manifest = store.manifest()
        manifest["effective_status"] = store.effective_status()
        print(json.dumps({"manifest": manifest, "errors": store.errors(), "progress": {
            "done": state.done, "total": state.total, "unit": state.unit}}, indent=2, default=str))
        return 0
    print(inert(show_text(store, state, home_of(args))))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from experiments import api

    run_id = api.resume(args.run, home_of(args), force=args.force)
    print(f"resumed {run_id}")
    if args.detach:
        return 0
    return follow_chain(run_id, args, lambda stores: None)


def cmd_cancel(args: argparse.Namespace) -> int:
    from experiments import api

    print(f"cancelled {api.cancel(args.run, home_of(args))}")
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
    run_id = api.launch(spec, home_of(args))
    print(f"launched {run_id}")
    if args.detach:
        return 0
    return follow_chain(run_id, args, lambda stores: None)


def cmd_console(args: argparse.Namespace) -> int:
    """`tui` and `web` are opened by the `confconsole` console script (the UI lives above this package)."""
    print(f"`{args.command}` opens the console: run it through the `confconsole` script "
          "(it opens the console when no command, `tui` or `web` is given)")
    return 2


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(sub, "tui", group="watch", help="open the console (the default with no command)",
                    description="The console: every run with live progress; enter opens one, o its records, n a "
                    "launch form for any stage; ? lists each screen's keys.")
    p.set_defaults(func=cmd_console)
    p = add_command(sub, "web", group="watch", help="serve the console to a browser on 127.0.0.1",
                    description="Serves the same console to a web browser (textual-serve): each browser tab runs "
                    "its own console over the same runs, live. Listens on 127.0.0.1 only.")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: 8000)")
    p.set_defaults(func=cmd_console)
    p = add_command(sub, "runs", group="watch", help="list runs: stage, status, progress, records, errors")
    p.add_argument("--json", action="store_true", help="one JSON object per run, for scripts")
    p.set_defaults(func=cmd_runs)
    p = add_command(sub, "show", group="watch", help="a run's status, progress, summary tables and bad items",
                    description="A run's header (stage, status, inputs, pipeline), progress, its summary as "
                    "aligned text and tables, its bad items, and the runs that read it.")
    p.add_argument("run", help=RUN_HELP)
    p.add_argument("--json", action="store_true", help="the manifest, bad items and progress as JSON")
    p.set_defaults(func=cmd_show)
    p = add_command(sub, "resume", group="watch", help="restart a run (or a pipeline), skipping done chunks")
    p.add_argument("run", help=RUN_HELP)
    p.add_argument("--force", action="store_true", help="delete its chunks and bad items first: redo everything")
    add_follow_args(p)
    p.set_defaults(func=cmd_resume)
    p = add_command(sub, "cancel", group="watch", help="stop a run (its chunk in flight is dropped)")
    p.add_argument("run", help=RUN_HELP)
    p.set_defaults(func=cmd_cancel)
    p = add_command(sub, "run", group="run", help="launch any stage, or a pipeline, from a spec TOML file",
                    aliases=["pipeline"], description="Launch a run from a spec file (`stage = \"...\"` and "
                    "that stage's fields, or `stage = \"pipeline\"` with [[steps]]; `confconsole pipeline "
                    "SPEC` is the same command). Unknown keys are refused with the nearest valid name.")
    p.add_argument("spec", metavar="SPEC.toml", help="the spec file (stage = \"...\", or stage = \"pipeline\" "
                   "with [[steps]])")
    add_follow_args(p)
    p.set_defaults(func=cmd_launch)
