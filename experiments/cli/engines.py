"""CLI commands around engines and the shell: `serve` (a managed local vLLM server) and `completion`."""

from __future__ import annotations

import argparse

from experiments.cli.commands import add_command


def cmd_serve(args: argparse.Namespace) -> int:
    from backends.server import serve_main, stop_server

    if args.stop:
        stopped = stop_server(args.stop)
        print(f"server {args.stop} {'stopped' if stopped else 'was not running'}")
        return 0

    return serve_main(args.model, args.port, foreground=not args.detach)


def cmd_completion(args: argparse.Namespace) -> int:
    import argcomplete

    print(argcomplete.shellcode(["confconsole"], shell=args.shell))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = add_command(sub, "serve", group="serve", help="start a vLLM OpenAI-compatible server on 127.0.0.1",
                        description="Start a vLLM OpenAI-compatible server for MODEL on 127.0.0.1 (a free port "
                        "unless --port); runs and judges reach it with --base-url.")
    serve.add_argument("model", nargs="?", default="smollm2-135m", help="alias, folder or hub id (default: "
                       "smollm2-135m, the embedded model)")
    serve.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--detach", action="store_true", help="leave it running; stop it with --stop PID")
    serve.add_argument("--stop", type=int, metavar="PID", help="stop a detached server (its process group)")
    serve.set_defaults(func=cmd_serve)
    completion = add_command(sub, "completion", group="serve", help="print the shell completion script",
                             description="Tab completion of commands and options (argcomplete). Add to your "
                             "shell's rc file: eval \"$(confconsole completion bash)\" (zsh: `completion zsh`, "
                             "fish: `confconsole completion fish | source`).")
    completion.add_argument("shell", nargs="?", default="bash", choices=["bash", "zsh", "fish", "tcsh"],
                            help="your shell (default: bash)")
    completion.set_defaults(func=cmd_completion)
