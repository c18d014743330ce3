#!/usr/bin/env bash
# Guided decoding on a GPU: random-weight Qwen2.5-0.5B base and Qwen2.5-7B oracle (one tokenizer: token ids hand
# over), batch 64, c=20 k=10 step 10, against the ideal and the reference loop (bench/guided_speed.py).
# Usage: [LABEL=x] bash bench/gpu/guided_speed.sh [hf|vllm] [extra guided_speed.py args...]   (after setup_host.sh)
set -uo pipefail
cd "$(dirname "$0")/../.."
. bench/gpu/common.sh
engine=${1:-hf}; shift $(( $# >= 1 ? 1 : 0 ))
python3 bench/guided_speed.py --device cuda --engine "$engine" --batch 64 --base "$models/qwen2.5-0.5b" \
  --oracle "$models/qwen2.5-7b" --big-oracle none --reference-server "${REFERENCE_SERVER:-hf}" "$@" 2>&1 \
  | tee "$out/guided_speed_$engine${LABEL:+_$LABEL}.log" | grep -vE "^(INFO|DEBUG|WARNING)" | tail -25
