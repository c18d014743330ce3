#!/usr/bin/env bash
# LoRA SFT on two GPUs vs one at the same global batch (bench/gpu/sft_multi.py), on the random-weight Qwen2.5-0.5B
# shape in bf16. Usage: bash bench/gpu/sft_multi.sh [extra sft_multi.py args...]   (after setup_host.sh)
set -uo pipefail
cd "$(dirname "$0")/../.."
. bench/gpu/common.sh
export NVSHMEM_DISABLE_NVLS=${NVSHMEM_DISABLE_NVLS:-1}
python3 bench/gpu/sft_multi.py --model "$models/qwen2.5-0.5b" --precision bf16 "$@" 2>&1 \
  | tee "$out/sft_multi.log" | grep -vE "^(INFO|DEBUG|WARNING)" | tail -12
