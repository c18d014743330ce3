"""Guided decoding engines: a small base model writes, a big oracle writes `k` tokens at points a policy picks.

`session.py` holds the engine-neutral step-wise protocol and the loop; `hf_session.py` (KV caches kept between
steps), `served_session.py` (vLLM offline and OpenAI-compatible servers, continuation with prefix caching) implement
it; `handover.py` moves text between models with different tokenizers; `stats.py` computes per-position statistics.
Nothing here imports `experiments`.
"""
