#!/usr/bin/env bash
# The GPU measurements of one lease of a single GPU, in back-to-back calls of a channel that carries at most 64 MiB
# per call and keeps the host only ~30 s between calls (bench/gpu/README.md, "one lease"). The bundle parts of
# prepare.sh arrive one per call under $PARTS/{vllm,proj}/ (default .gpu_bundle/*/parts):
#   session.sh start     (the proj parts + the last vLLM part) installs proj, builds the random models, then runs
#                        the hf guided bench, all in the background (setsid: it outlives the call)
#   session.sh xfer      (one more vLLM part) gathers it; repeat until every part is there
#   session.sh guided    installs vLLM, waits for the background job, runs the vLLM guided bench eager
#   session.sh graphs    the vLLM guided bench with CUDA graphs (full graphs for decode steps, no torch.compile)
#   session.sh overhead  the vLLM inference-overhead bench on both shapes (bare engine vs a run, same window)
#   session.sh sft2      (two GPUs, proj parts) LoRA SFT through accelerate on two GPUs vs one
#   session.sh dp2       (two GPUs, all parts) vLLM data parallel over two GPUs vs one (bench/gpu/multi_gpu.py)
#   session.sh rebench   (after `BG_HF=0 session.sh start` and the parts) the vLLM guided bench, graphs then eager
# Every call prints the host's boot_id first: if it changes, the host was replaced and the parts must go again.
# Logs land in $OUT (the background job's in /tmp/bg, copied to $OUT by `graphs`).
set -uo pipefail
cd "$(dirname "$0")/../.."
step=${1:?usage: session.sh start|xfer|guided|graphs|overhead}
parts=${PARTS:-.gpu_bundle}
echo "boot_id $(cat /proc/sys/kernel/random/boot_id)  $(date +%T)"
export OUT=${OUT:-bench-out}
mkdir -p "$OUT" /tmp/bg
GRAPHS='{"compilation_config": {"mode": 0, "cudagraph_mode": "FULL_DECODE_ONLY"}}'

gather() {  # the parts this call carried -> /tmp/wheels/{vllm,proj}
  for b in vllm proj; do
    local dir="$parts/$b"
    [ -d "$dir/parts" ] && dir="$dir/parts"
    [ -d "$dir" ] || continue
    mkdir -p "/tmp/wheels/$b"
    for f in "$dir"/*; do
      [ -f "$f" ] && [ ! -f "/tmp/wheels/$b/$(basename "$f")" ] && cp "$f" "/tmp/wheels/$b/"
    done
  done
  echo "have: $(cd /tmp/wheels 2>/dev/null && ls -d */* | tr '\n' ' ')"
}

wait_background() {  # $1 = seconds at most
  local n=0
  while [ ! -f /tmp/bg/done ] && [ "$n" -lt "$1" ]; do sleep 2; n=$((n + 2)); done
  echo "== background job: $( [ -f /tmp/bg/done ] && echo "done, exit $(cat /tmp/bg/done)" || echo "still running")"
  tail -3 /tmp/bg/setup.log 2>/dev/null
  tail -12 /tmp/bg/hf.out 2>/dev/null
}

case $step in
  start)
    gather
    rm -rf /tmp/cc && mkdir -p /tmp/cc && tar cf - --exclude=./.gpu_bundle . | tar xf - -C /tmp/cc
    rm -f /tmp/bg/done
    hf="OUT=/tmp/bg bash bench/gpu/guided_speed.sh hf --reference-prompts 0 --rounds 2 > /tmp/bg/hf.out 2>&1"
    [ "${BG_HF:-1}" = 1 ] || hf=true  # BG_HF=0: only install proj and build the models
    setsid nohup bash -c "cd /tmp/cc && BUNDLES=proj bash bench/gpu/setup_host.sh > /tmp/bg/setup.log 2>&1 &&
      $hf; echo \$? > /tmp/bg/done" > /dev/null 2>&1 < /dev/null &
    echo "background job started (pid $!)"
    ;;
  xfer)
    gather
    tail -2 /tmp/bg/setup.log 2>/dev/null
    ;;
  guided)
    gather
    wait_background 240  # first: the vLLM install replaces packages the background job may be using
    bash bench/gpu/setup_host.sh 2>&1 | tail -4
    LABEL=eager bash bench/gpu/guided_speed.sh vllm --reference-prompts 0 --no-token-stats --rounds 2 \
      --vllm-args '{"enforce_eager": true}'
    ;;
  graphs)
    wait_background 1
    LABEL=graphs bash bench/gpu/guided_speed.sh vllm --reference-prompts 0 --no-token-stats --rounds 2 \
      --vllm-args "$GRAPHS"
    cp /tmp/bg/hf.out /tmp/bg/guided_speed_hf.log /tmp/bg/setup.log "$OUT/" 2>/dev/null
    ;;
  rebench)  # after `start` with BG_HF=0 and the parts: the vLLM guided bench with graphs, then eager
    gather
    wait_background 240
    bash bench/gpu/setup_host.sh 2>&1 | tail -3
    for cfg in "graphs:$GRAPHS" 'eager:{"enforce_eager": true}'; do
      LABEL=${cfg%%:*} bash bench/gpu/guided_speed.sh vllm --reference-prompts 0 --no-token-stats --rounds 2 \
        --vllm-args "${cfg#*:}" | grep -vE "^\(EngineCore|^\(Worker|Capturing|Loading"
    done
    ;;
  sft2)  # a host with two GPUs, with the proj parts: LoRA SFT on two GPUs vs one
    gather
    SHAPES=qwen2.5-0.5b BUNDLES=proj bash bench/gpu/setup_host.sh 2>&1 | tail -3
    nvidia-smi -L
    bash bench/gpu/sft_multi.sh "${@:2}"
    ;;
  dp2)  # a host with two GPUs, after `BG_HF=0 SHAPES=qwen2.5-0.5b session.sh start` and the vLLM parts
    gather
    wait_background 240
    SHAPES=qwen2.5-0.5b bash bench/gpu/setup_host.sh 2>&1 | tail -3
    . bench/gpu/common.sh
    python3 bench/gpu/multi_gpu.py --model /tmp/models/qwen2.5-0.5b --engine vllm --prompts 2048 --max-tokens 128 \
      --skip tp2,kill --vllm-args "$GRAPHS" 2>&1 | tee "$OUT/multi_gpu_vllm.log" | grep -vE "^\(EngineCore|^\(Worker" \
      | tail -12
    ;;
  overhead)
    BACKENDS=vllm ROUNDS=1 VLLM_ARGS="{\"gpu_memory_utilization\": 0.6, ${GRAPHS:1:-1}}" \
      bash bench/gpu/inference_overhead.sh "qwen2.5-0.5b qwen2.5-7b" 512 128
    ;;
  *) echo "unknown step $step"; exit 2 ;;
esac
