#!/usr/bin/env bash
# Inference overhead on a GPU: the bare engine vs a full confconsole inference run on the same prompts, for vLLM and
# hf, on random-weight models of real shapes (bench/gpu/setup_host.sh builds them). Each side runs in its own
# process, so GPU memory is free for the next. Full logs under $OUT (default bench-out/); a table prints last.
# Each side runs ROUNDS times (default 2), interleaved with the other; the table keeps the best of each.
# Usage: bash bench/gpu/inference_overhead.sh [SHAPES="qwen2.5-0.5b qwen2.5-7b"] [PROMPTS=512] [MAX_TOKENS=256]
set -uo pipefail
cd "$(dirname "$0")/../.."
. bench/gpu/common.sh
shapes=${1:-"qwen2.5-0.5b qwen2.5-7b"}; prompts=${2:-512}; max_tokens=${3:-256}
backends=${BACKENDS:-"vllm hf"}
rounds=${ROUNDS:-2}  # bare/run pairs, interleaved; the best of each side counts (a shared host drifts)
export VLLM_WORKER_MULTIPROC_METHOD=${VLLM_WORKER_MULTIPROC_METHOD:-spawn}  # CUDA is initialised before LLM()
vllm_args=${VLLM_ARGS:-'{"gpu_memory_utilization": 0.6}'}
log=$out/inference_overhead.log
for shape in $shapes; do
  for backend in $backends; do
    for side in $(for _ in $(seq "$rounds"); do echo bare run; done); do
      section "$shape $backend $side" | tee -a "$log"
      timeout 560 python3 bench/inference_overhead.py --backends "$backend" --model "$models/$shape" \
        --prompts "$prompts" --max-tokens "$max_tokens" --batch-size 64 --chunk-size 64 --vllm-args "$vllm_args" \
        --home /tmp/cchome --sides "$side" 2>&1 | tee -a "$log" | grep -E "tok/s|Error" | tail -3
    done
  done
done
echo; echo "device: $(gpu_name)   prompts $prompts x $max_tokens output tokens (ignore_eos), greedy"
echo "bare = the engine fed like a run (templating inside the window, overlapping generation); ids = LLM.generate on"
echo "token ids templated before the clock (the engine alone); chat = LLM.chat. run = a full confconsole run."
printf '%-14s %-6s %11s %11s %11s %11s %9s %9s\n' shape engine "bare tok/s" "ids tok/s" "chat tok/s" "run tok/s" \
  "run/bare" "run/ids"
python3 - "$log" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rows = {}
for head, body in re.findall(r"== (\S+ \S+ \S+) \([^)]*\)\n(.*?)(?=\n== |\Z)", text, re.S):
    shape, engine, side = head.split()
    slot = rows.setdefault((shape, engine), {})
    m = re.findall(rf"{engine}: bare (\S+) tok/s, run (\S+) tok/s", body)
    if m:
        bare, run = m[-1]
        slot[side] = max(slot.get(side, 0.0), float(bare if side == "bare" else run))
    for way, value in re.findall(r"(ids|chat) (\S+) tok/s", " ".join(re.findall(r"bare ways (.*)", body))):
        slot[way] = max(slot.get(way, 0.0), float(value))
nan = float("nan")
for (shape, engine), v in rows.items():
    b, r, i, c = v.get("bare", nan), v.get("run", nan), v.get("ids", nan), v.get("chat", nan)
    print(f"{shape:<14} {engine:<6} {b:>11.1f} {i:>11.1f} {c:>11.1f} {r:>11.1f} {r / b:>9.3f} {r / i:>9.3f}")
PY
