"""CLI commands around engines and run outputs: `serve` (a managed local vLLM server) and `export`."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_serve(args: argparse.Namespace) -> int:
    from backends.server import serve_main, stop_server

    if args.stop:
        stopped = stop_server(args.stop)
        print(f"server {args.stop} {'stopped' if stopped else 'was not running'}")
        return 0

    return serve_main(args.model, args.port, foreground=not args.detach)


def cmd_export(args: argparse.Namespace) -> int:
    from experiments.exports import export_run
    from experiments.runs.store import RunStore

    stores = [RunStore.open(run) for run in args.runs]
    if args.format == "reviewed":
        return cmd_export_reviewed(stores, Path(args.out))
    for path in export_run(stores, args.format, Path(args.out)):
        print(f"wrote {path}")
    return 0


def cmd_export_reviewed(stores: list, out: Path) -> int:
    """The reviewed set: one run's human verdicts next to its rule and judge verdicts."""
    from experiments.reviews.export import write_reviewed

    if len(stores) != 1:
        raise ValueError("the reviewed export takes exactly one run")
    path, rows = write_reviewed(stores[0], out)
    print(f"wrote {path} ({rows} reviewed records)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = sub.add_parser("serve", help="start a vLLM OpenAI-compatible server on 127.0.0.1 (free port)")
    serve.add_argument("model", nargs="?", default="smollm2-135m")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--detach", action="store_true", help="leave it running; stop it with --stop PID")
    serve.add_argument("--stop", type=int, metavar="PID", help="stop a detached server (its process group)")
    serve.set_defaults(func=cmd_serve)
    export = sub.add_parser("export", help="export runs to the seed JSON shapes, or a run's reviewed records")
    export.add_argument("runs", nargs="+")
    export.add_argument("--format", choices=["predictions", "merged", "reviewed"], default="predictions",
                        help="reviewed: the records a person reviewed, rule/judge/human verdicts side by side")
    export.add_argument("--out", required=True, help="a .json file (predictions), a folder (merged), or a "
                        ".jsonl/.json/.parquet/.csv file (reviewed)")
    export.set_defaults(func=cmd_export)
