#!/usr/bin/env bash
# On the offline GPU host, from the repository root, after the parts of prepare.sh are in /tmp/wheels/{vllm,proj}:
# reassemble and verify both bundles, install them into /tmp/site (the system packages stay as they are), and build
# random-weight models of real shapes in /tmp/models. Idempotent: what is already there is kept.
# Afterwards every bench/gpu script finds what it needs (they put the repo and /tmp/site on PYTHONPATH themselves).
set -euo pipefail
site=/tmp/site; models=/tmp/models; wheels=${WHEELS:-/tmp/wheels}
shapes=${SHAPES:-"qwen2.5-0.5b qwen2.5-7b"}
bundles=${BUNDLES:-"vllm proj"}  # BUNDLES=proj: set up the hf benches while the vLLM parts are still on their way
install_bundle() {  # $1 = folder with part_N and bundle.sha256
  local dir=$1
  [ -f "$dir/.installed" ] && return 0
  (cd "$dir" && cat $(ls part_* | sort -V) > bundle.tar && sha256sum -c bundle.sha256 >/dev/null)
  mkdir -p "$dir/x" && tar xf "$dir/bundle.tar" -C "$dir/x"
  # vLLM's versions of the packages both bundles hold (pydantic, ...) win, whichever bundle came first
  local upgrade=""; [ "$(basename "$dir")" = vllm ] && upgrade=--upgrade
  find "$dir/x" -name '*.whl' -print0 | xargs -0 python3 -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir $upgrade --target "$site"
  rm -f "$dir/bundle.tar"
  touch "$dir/.installed"
}
for b in $bundles; do
  [ "$b" = vllm ] && [ ! -d "$wheels/vllm" ] && continue
  install_bundle "$wheels/$b"
done
export PYTHONPATH=$PWD:$site
mkdir -p "$models"
for shape in $shapes; do
  [ -f "$models/$shape/config.json" ] || python3 bench/gpu/random_model.py "$models/$shape" "$wheels/proj/x/tok" "$shape"
done
python3 - <<'PY'
import torch
print("torch", torch.__version__, "gpus", torch.cuda.device_count(),
      [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
try:
    import vllm
    print("vllm", vllm.__version__)
except Exception as exc:  # noqa: BLE001
    print("vllm not importable:", exc)
import experiments, backends  # noqa: F401,E401
print("confconsole importable")
PY
