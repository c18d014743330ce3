"""Engines and clients (hf, vllm, openai_compat). Plain libraries: no Textual, no experiments imports."""
