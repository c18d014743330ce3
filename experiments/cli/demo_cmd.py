"""`confconsole demo`: ready-made pipelines on the embedded model, followed step by step, then where to look next."""

from __future__ import annotations

import argparse
import time
from typing import Any

from experiments.cli.commands import add_command
from experiments.cli.common import add_follow_args, follow_chain, home_of
from experiments.textsafe import inert


def cmd_demo(args: argparse.Namespace) -> int:
    from experiments import api
    from experiments.demo import demo_spec

    if args.loop:
        return cmd_demo_loop(args)
    started = time.monotonic()
    spec = demo_spec(limit=args.limit, model=args.model, n=args.n, max_tokens=args.max_tokens,
                     batch_size=args.batch_size, chunk_size=args.chunk_size, source=args.dataset)
    run_id = api.launch(spec, home_of(args))
    print(f"confconsole demo: {args.limit} {args.dataset} questions on {args.model}, inference -> grading -> "
          f"tagging\npipeline {run_id}\nhome     {home_of(args)}")
    if args.detach:
        return 0
    return follow_chain(run_id, args, lambda stores: demo_done(stores, args, started))


def demo_done(stores: list[Any], args: argparse.Namespace, started: float | None = None) -> None:
    from experiments.demo_report import step_times_line
    from experiments.report.accuracy import format_accuracy

    summary = stores[-1].manifest().get("summary", {})
    print("\n" + inert(format_accuracy(summary.get("accuracy", []))))
    tokens = summary.get("tokens") or {}
    if tokens:
        print("confidence tokens: " + ", ".join(f"{inert(str(t))} {n}" for t, n in sorted(tokens.items())))
    if started is not None:
        print(step_times_line(stores, time.monotonic() - started))
    by_stage = {s.manifest().get("stage"): s.run_id for s in stores}
    home = f" --home {home_of(args)}" if getattr(args, "home", None) else ""
    print("\nnext: browse these runs and their records in the console:")
    print(f"  confconsole{home}                      # enter on a run: progress and summary; o: its records "
          "with their verdicts")
    if by_stage.get("grading"):
        print(f"  confconsole{home} show {by_stage['grading']}   # the graded answers' accuracy")
    if by_stage.get("tagging"):
        print(f"  confconsole{home} export {by_stage['tagging']} --format sft --out sft.jsonl   # SFT data")


def cmd_demo_loop(args: argparse.Namespace) -> int:
    from experiments import api
    from experiments.demo import loop_spec
    from experiments.demo_report import print_loop_result

    spec = loop_spec(train=args.train, heldout=args.heldout, calib=args.calib, model=args.model,
                     sft_steps=args.sft_steps,
                     oracle_model=args.oracle_model or args.model, oracle_url=args.oracle_url,
                     oracle_key_env=args.oracle_key_env)
    run_id = api.launch(spec, home_of(args))
    print(f"confconsole demo --loop: {spec['title']}\npipeline {run_id}\nhome     {home_of(args)}")
    if args.detach:
        return 0
    return follow_chain(run_id, args, lambda stores: print_loop_result(run_id, home_of(args)))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from experiments.demo import (
        DEMO_BATCH,
        DEMO_SOURCE,
        EMBEDDED,
        LOOP_CALIB,
        LOOP_CALIB_OFFSET,
        LOOP_HELDOUT,
        LOOP_HELDOUT_OFFSET,
        LOOP_SFT_STEPS,
        LOOP_TRAIN,
    )
    from experiments.specs import DEFAULT_MAX_TOKENS

    p = add_command(sub, "demo", group="run", help="inference -> grading -> tagging on 20 easy questions, "
                    "embedded model, CPU", description="Runs a three-step pipeline on the embedded model "
                    "(SmolLM2-135M, CPU): it answers arithmetic questions, a rule grader marks them, and each "
                    "answer gets a confidence token (<CN_MATH> right, <UN_MATH> wrong). With --loop: the whole "
                    "confidence loop (SFT, evaluation on a calibration split and on held-out questions, delegation).")
    p.add_argument("--limit", type=int, default=20, help="questions (default: 20)")
    p.add_argument("--dataset", default=DEMO_SOURCE, help="arith (default: a mix of right and wrong), gsm8k "
                   "(hard for a 135M model), or any source `confconsole datasets` lists")
    p.add_argument("--model", default=EMBEDDED, help=f"the model that answers (default: {EMBEDDED}, embedded)")
    p.add_argument("--n", type=int, default=1, help="answers per question (default: 1)")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                   help=f"new tokens per answer (default: {DEFAULT_MAX_TOKENS})")
    p.add_argument("--batch-size", type=int, default=DEMO_BATCH,
                   help=f"rows decoding together, continuous batching (default: {DEMO_BATCH})")
    p.add_argument("--chunk-size", type=int, default=8, help="questions per chunk, the unit of resume (default: 8)")
    p.add_argument("--loop", action="store_true", help="the whole confidence loop instead: inference -> grading "
                   "-> tagging -> SFT -> evaluation on a calibration split (it chooses a threshold on P(confident)) "
                   "-> evaluation on held-out questions -> delegation")
    loop = p.add_argument_group("--loop options")
    loop.add_argument("--train", type=int, default=LOOP_TRAIN,
                      help=f"training questions, arith rows from 0, at most {LOOP_CALIB_OFFSET} (default: "
                      f"{LOOP_TRAIN})")
    loop.add_argument("--calib", type=int, default=LOOP_CALIB,
                      help=f"calibration questions, arith rows from {LOOP_CALIB_OFFSET} (neither trained on nor held "
                      f"out): they choose the threshold on P(confident) the held-out evaluation decides with; 0: "
                      f"none, the written tokens only (default: {LOOP_CALIB})")
    loop.add_argument("--heldout", type=int, default=LOOP_HELDOUT,
                      help=f"held-out questions, arith rows from {LOOP_HELDOUT_OFFSET}, never trained on (default: "
                      f"{LOOP_HELDOUT})")
    loop.add_argument("--sft-steps", type=int, default=LOOP_SFT_STEPS,
                      help=f"LoRA optimizer steps (default: {LOOP_SFT_STEPS})")
    loop.add_argument("--oracle-model", help="the big model answers are delegated to (default: the small model "
                      "itself, through hf)")
    loop.add_argument("--oracle-url", help="an OpenAI-compatible endpoint serving --oracle-model")
    loop.add_argument("--oracle-key-env", help="the environment variable holding that endpoint's key")
    add_follow_args(p)
    p.set_defaults(func=cmd_demo)
