# Sourced by the bench/gpu measurement scripts: environment, output folder, a section header.
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0} TORCH_SYMM_MEM_DISABLE_MULTICAST=${TORCH_SYMM_MEM_DISABLE_MULTICAST:-1}
out=${OUT:-bench-out}
mkdir -p "$out"
models=${MODELS:-/tmp/models}
section() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
gpu_name() { python3 -c "import torch; print(torch.cuda.get_device_name(0), 'x', torch.cuda.device_count())"; }
