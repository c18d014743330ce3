#!/usr/bin/env bash
# GPU host side of bench/inference_overhead.py (see bench/README.md): vLLM 0.26.0 from the offline bundle in
# /tmp/wheels (sent beforehand, part by part), a random-weight model of a real shape, then the benchmark.
# Usage (on the host, repo root): bash bench/gpu_inference.sh [vllm|hf|all] [PROMPTS] [MAX_TOKENS]
set -euo pipefail
which=${1:-all}; prompts=${2:-512}; max_tokens=${3:-256}
export PYTHONUNBUFFERED=1 VLLM_LOGGING_LEVEL=WARNING TOKENIZERS_PARALLELISM=false
if [ ! -d /tmp/site/vllm ]; then
  if [ -f /tmp/wheels/bundle.sha256 ]; then bash "$(dirname "$0")/../.gpu/install_bundle.sh" >/dev/null; fi
fi
python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/whl/*.whl 2>/dev/null || true
export PYTHONPATH=/tmp/site:$PWD
model=/tmp/qwen05-random
[ -d $model ] || python3 .gpu/random_model.py $model .gpu/tok qwen2.5-0.5b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
case $which in
  vllm) backends=vllm ;;
  hf) backends=hf ;;
  *) backends=vllm,hf ;;
esac
python3 bench/inference_overhead.py --backends $backends --model $model --prompts $prompts \
  --max-tokens $max_tokens --batch-size 64 --chunk-size 64 --vllm-args '{"gpu_memory_utilization": 0.85}'
