#!/usr/bin/env bash
# guided_speed on a GPU host without weights: random Qwen2.5-0.5B (base) and Qwen2.5-7B (oracle) shapes sharing the
# tokenizer in TOKENIZER_DIR (e.g. the embedded model's converted folder), batch 64, c=20 k=10 step 10.
#   bash bench/guided_gpu.sh TOKENIZER_DIR [hf|vllm] [extra guided_speed args...]
set -euo pipefail
tok=${1:?tokenizer dir}; engine=${2:-hf}; shift $(( $# >= 2 ? 2 : 1 ))
root=${GUIDED_MODELS:-/tmp/guided-models}
mkdir -p "$root"
python bench/random_shapes.py "$root/base-0.5b" "$tok" qwen2.5-0.5b
python bench/random_shapes.py "$root/oracle-7b" "$tok" qwen2.5-7b
python bench/guided_speed.py --device cuda --engine "$engine" --batch 64 --base "$root/base-0.5b" \
  --oracle "$root/oracle-7b" --big-oracle none --reference-server "${REFERENCE_SERVER:-hf}" "$@"
