"""CLI command of the inference stage: `infer` (a run over a dataset with any engine)."""

from __future__ import annotations

import argparse
from typing import Any

from experiments.cli.common import add_follow_args, launch_and_follow
from experiments.specs import DEFAULT_MAX_TOKENS


def inference_spec(args: argparse.Namespace) -> Any:
    from experiments.datasets.base import DatasetSpec
    from experiments.specs import BackendSpec, SamplingSpec
    from experiments.stages.inference.spec import InferenceSpec

    options: dict[str, Any] = {}
    if args.base_url:
        options["base_url"] = args.base_url
    if args.batch_size:
        options["batch_size"] = args.batch_size
    then = [{"stage": "grading"}] if args.grade else []
    if args.grade and args.tag:
        then.append({"stage": "tagging"})
    return InferenceSpec(
        title=args.title or f"{args.dataset} x{args.limit or 'all'} on {args.model}",
        dataset=DatasetSpec(source=args.dataset, limit=args.limit),
        model=args.model,
        backend=BackendSpec(kind=args.backend, options=options),
        sampling=SamplingSpec(n=args.n, temperature=args.temperature, max_tokens=args.max_tokens),
        chunk_size=args.chunk_size, data_parallel=args.data_parallel, then=then)


def cmd_infer(args: argparse.Namespace) -> int:
    return launch_and_follow(inference_spec(args), args)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("infer", help="generate answers with a model over a dataset (an inference run)")
    p.add_argument("--dataset", default="arith", help="built-in source or a local file")
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--backend", choices=["hf", "vllm", "openai_compat"], default="hf")
    p.add_argument("--base-url", help="openai_compat endpoint")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--n", type=int, default=1, help="samples per prompt")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--chunk-size", type=int, default=8)
    p.add_argument("--data-parallel", type=int, default=1)
    p.add_argument("--grade", action="store_true", help="then grade the answers")
    p.add_argument("--tag", action="store_true", help="then tag them (with --grade)")
    p.add_argument("--title", default="")
    add_follow_args(p)
    p.set_defaults(func=cmd_infer)
