#!/usr/bin/env bash
# LoRA SFT on a GPU: the sft stage vs a bare torch loop over the same batches (bench/sft_speed.py), on the
# random-weight Qwen2.5-0.5B shape; steps/s, tokens/s, adapter size and peak GPU memory.
# Usage: bash bench/gpu/sft_speed.sh [extra sft_speed.py args...]   (after setup_host.sh)
set -uo pipefail
cd "$(dirname "$0")/../.."
. bench/gpu/common.sh
sft() { python3 bench/sft_speed.py --device cuda --model "$models/qwen2.5-0.5b" --precision bf16 --batch-size 8 \
  --max-length 512 "$@"; }
sft --steps 40 --warmup 5 --rows 512 "$@" 2>&1 | tee "$out/sft_speed.log" | grep -vE "^(INFO|DEBUG)" | tail -20
if [ "${PIPESTATUS[0]}" -ne 0 ]; then  # name the failing kernel: a short synchronous rerun of the bare side
  echo "== failed; rerunning 3 steps of the bare side with CUDA_LAUNCH_BLOCKING=1"
  CUDA_LAUNCH_BLOCKING=1 sft --steps 3 --warmup 1 --rows 64 --side bare 2>&1 | tail -40
fi
