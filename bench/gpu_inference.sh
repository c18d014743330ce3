#!/usr/bin/env bash
# GPU host side of bench/inference_overhead.py: vLLM 0.26.0 from the offline bundle in /tmp/wheels (sent
# beforehand, part by part, see ../shared/gpu/README.md), a random-weight model of a real shape, then the
# benchmark, each side in its own process so GPU memory is free for the next.
# Usage (on the host, repo root): bash bench/gpu_inference.sh [vllm|hf] [PROMPTS] [MAX_TOKENS]
set -uo pipefail
backend=${1:-vllm}; prompts=${2:-512}; max_tokens=${3:-256}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
if [ ! -d /tmp/site/vllm ] && [ -f /tmp/wheels/bundle.sha256 ]; then bash .gpu/install_bundle.sh >/dev/null; fi
python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/whl/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD
model=/tmp/qwen05-random
[ -d $model ] || python3 .gpu/random_model.py $model .gpu/tok qwen2.5-0.5b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
common=(--backends "$backend" --model $model --prompts "$prompts" --max-tokens "$max_tokens" --batch-size 64
        --chunk-size 64 --vllm-args '{"gpu_memory_utilization": 0.5}' --home /tmp/cchome)
date +%T; timeout 290 python3 bench/inference_overhead.py "${common[@]}" --sides bare
date +%T; timeout 290 python3 bench/inference_overhead.py "${common[@]}" --sides run
date +%T
