"""Loaded by every Python process of a bench/gpu script (common.sh puts this folder on PYTHONPATH).

Some torch 2.11 + cuDNN builds fail in cuDNN's fused attention on H100 ("mha_graph.execute ... is_good()") for
transformers' SDPA path; with CONFCONSOLE_NO_CUDNN_SDP=1 (the default in common.sh) that backend is switched off
and PyTorch picks flash or memory-efficient attention instead. Both sides of every comparison get the same setting.
"""

import os

if os.environ.get("CONFCONSOLE_NO_CUDNN_SDP") == "1":
    try:
        import torch

        torch.backends.cuda.enable_cudnn_sdp(False)
    except Exception:  # noqa: BLE001 - a bench helper must never stop the interpreter from starting
        pass
