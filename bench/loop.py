"""The confidence loop on the embedded model, end to end, as `confconsole demo --loop` runs it: the held-out figures
the loop is judged by (token coverage, calibration accuracy of the written tokens and at the threshold on
P(confident) chosen on the calibration split vs the majority-token baseline, AUROC, ECE), the
delegation table and the wall time of every step, in a fresh home.

    .venv/bin/python bench/loop.py [--train 240] [--calib 160] [--heldout 100] [--sft-steps 160] [--home DIR]

The held-out questions (arith rows 400..) are never trained on; nothing here is tuned on them (the threshold is
chosen on rows 240..399).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import api  # noqa: E402
from experiments.demo import LOOP_CALIB, LOOP_HELDOUT, LOOP_SFT_STEPS, LOOP_TRAIN, loop_spec  # noqa: E402
from experiments.demo_report import loop_figures, loop_text  # noqa: E402
from experiments.runs.store import RunStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=LOOP_TRAIN)
    parser.add_argument("--calib", type=int, default=LOOP_CALIB)
    parser.add_argument("--heldout", type=int, default=LOOP_HELDOUT)
    parser.add_argument("--sft-steps", type=int, default=LOOP_SFT_STEPS)
    parser.add_argument("--home", help="data home (default: a new temporary folder)")
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="loop-bench-"))
    started = time.monotonic()
    run_id = api.launch(loop_spec(train=args.train, heldout=args.heldout, sft_steps=args.sft_steps,
                                     calib=args.calib), home)
    print(f"pipeline {run_id} in {home}", flush=True)
    status = api.wait(run_id, home)
    wall = time.monotonic() - started
    pipeline = RunStore.open(run_id, home)
    if status != "done":
        sys.exit(f"pipeline {status}: {pipeline.manifest().get('error')}")
    figures = loop_figures(pipeline, home)
    print(loop_text(figures))
    print(f"\nwall time {wall:.1f} s (train {args.train}, calib {args.calib}, held out {args.heldout}, "
          f"SFT steps {args.sft_steps})")
    print(json.dumps({k: v for k, v in figures.items() if k != "performance"}, default=str))


if __name__ == "__main__":
    main()
