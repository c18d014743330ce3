"""Commands of the guided stage: `guide` (one prompt, in-process, two colours), `guided` (an evaluation run),
`guided-export` (the reference's JSONL) and `guided-stats` (teacher-forced statistics of any run's answers)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from experiments.cli.common import add_follow_args, home_of, launch_and_follow
from experiments.specs import DEFAULT_MAX_TOKENS


def _backend(kind: str, base_url: str | None) -> Any:
    from experiments.specs import BackendSpec

    return BackendSpec(kind=kind, options={"base_url": base_url} if base_url else {})


def guided_spec(args: argparse.Namespace) -> Any:
    from experiments.datasets.base import DatasetSpec
    from experiments.stages.guided.spec import GuidedSpec

    return GuidedSpec(
        title=args.title or f"guided {args.base} + {args.oracle} on {args.dataset} x{args.limit or 'all'}",
        dataset=DatasetSpec(source=args.dataset, limit=args.limit), base=args.base, oracle=args.oracle,
        base_backend=_backend(args.base_engine, args.base_url), oracle_backend=_backend(args.oracle_engine,
                                                                                        args.oracle_url),
        policy=args.policy, c=args.c, k=args.k, grid=[list(map(int, g.split(","))) for g in args.grid or []],
        step_size=args.step_size, max_new_tokens=args.max_new_tokens, threshold=args.threshold,
        chunk_size=args.chunk_size, stats=args.stats, attention_stats=args.attention_stats)


def cmd_guided(args: argparse.Namespace) -> int:
    return launch_and_follow(guided_spec(args), args)


def cmd_guide(args: argparse.Namespace) -> int:
    """One prompt in this process: pieces print as they come, base in red and oracle in blue."""
    from backends.guided.session import GuidedLoop, GuidedParams
    from experiments.stages.guided.colors import Painter
    from experiments.stages.guided.policies import make_policy
    from experiments.stages.guided.sessions import open_oracle, open_session

    ctx = _LocalContext()
    policy = make_policy(args.policy, threshold=args.threshold, p_start=args.p_start, p_end=args.p_end)
    base_backend = _backend(args.base_engine, args.base_url)
    base = None if policy.oracle_only else open_session(base_backend, args.base, ctx, "base",
                                                        attention_stats=args.attention_stats)
    oracle = None
    if policy.oracle_only or (args.c > 0 and args.k > 0):
        oracle = open_oracle(_backend(args.oracle_engine, args.oracle_url), args.oracle, ctx, base_backend,
                             args.base, lambda: base)
    painter = Painter(sys.stdout, verbose=args.verbose, color=args.color)
    painter.legend()
    params = GuidedParams(c=args.c, k=args.k, step_size=args.step_size, max_new_tokens=args.max_new_tokens)
    loop = GuidedLoop(base, oracle, policy, params, on_pieces=lambda row, pieces: painter.pieces(pieces),
                      seed=args.seed)
    [seq] = loop.run([[{"role": "user", "content": args.prompt}]])
    painter.end(seq, loop.timings)
    return 0


class _LocalContext:
    """What `open_session` needs from a stage context, for in-process use (logs go to stderr when verbose)."""

    def __init__(self) -> None:
        self.emit = self
        self.served_model = None

    def metric(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, message: str) -> None:
        print(message, file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    from experiments.runs.store import RunStore
    from experiments.stages.guided.records import reference_row

    store = RunStore.open(args.run, home_of(args))
    out = Path(args.out) if args.out else store.output_path("guided.jsonl")
    count = 0
    with out.open("w", encoding="utf-8") as fh:
        for record in store.records():
            fh.write(json.dumps(reference_row(record), ensure_ascii=False) + "\n")
            count += 1
    print(f"wrote {count} records to {out}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from experiments.stages.guided.analysis import run_stats

    out = run_stats(args.run, home_of(args), model=args.model, attention=args.attention_stats, limit=args.limit)
    print(f"wrote teacher-forced statistics to {out}")
    return 0


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", default="smollm2-135m", help="the small model that writes")
    p.add_argument("--oracle", default="smollm2-135m", help="the big model consulted")
    p.add_argument("--base-engine", choices=["hf", "vllm", "openai_compat"], default="hf")
    p.add_argument("--oracle-engine", choices=["hf", "vllm", "openai_compat"], default="hf")
    p.add_argument("--base-url", help="openai_compat endpoint of the base")
    p.add_argument("--oracle-url", help="openai_compat endpoint of the oracle")
    p.add_argument("--policy", default="random_rising",
                   choices=["never", "always", "random_rising", "entropy", "varentropy", "oracle_only"])
    p.add_argument("--c", type=int, default=5, help="consultations per answer at most")
    p.add_argument("--k", type=int, default=10, help="oracle tokens per consultation")
    p.add_argument("--step-size", type=int, default=10)
    p.add_argument("--max-new-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    p.add_argument("--threshold", type=float, default=3.0, help="entropy/varentropy policies (bits)")
    p.add_argument("--attention-stats", action="store_true", help="last-layer attention statistics too")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    g = sub.add_parser("guide", help="guided decoding of one prompt here: base tokens red, oracle tokens blue")
    g.add_argument("--prompt", required=True)
    _model_args(g)
    g.add_argument("--p-start", type=float, default=0.1)
    g.add_argument("--p-end", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--verbose", action="store_true", help="statistics at consultation points and a summary")
    g.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    g.set_defaults(func=cmd_guide)
    r = sub.add_parser("guided", help="a guided evaluation run over a dataset and a (c, k) grid")
    _model_args(r)
    r.add_argument("--dataset", default="arith")
    r.add_argument("--limit", type=int, default=None)
    r.add_argument("--grid", nargs="*", metavar="C,K", help="more cells, e.g. 5,10 20,10")
    r.add_argument("--chunk-size", type=int, default=16)
    r.add_argument("--stats", choices=["during", "after", "none"], default="during")
    r.add_argument("--title", default="")
    add_follow_args(r)
    r.set_defaults(func=cmd_guided)
    e = sub.add_parser("guided-export", help="a guided run's records as the reference's JSONL")
    e.add_argument("run")
    e.add_argument("--out", help="file (default: the run's outputs/guided.jsonl)")
    e.set_defaults(func=cmd_export)
    s = sub.add_parser("guided-stats", help="teacher-forced base-model statistics over any run's answers")
    s.add_argument("run")
    s.add_argument("--model", help="the model that re-reads (default: the run's base or model)")
    s.add_argument("--attention-stats", action="store_true")
    s.add_argument("--limit", type=int, default=None)
    s.set_defaults(func=cmd_stats)
