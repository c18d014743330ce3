"""Finding an SFT run's adapter: other stages name it by folder or by sft run id (`adapter = "sft-2026..."`)."""

from __future__ import annotations

import os
from pathlib import Path


def resolve_adapter(value: str, home: str | os.PathLike[str] | None = None) -> tuple[str, str | None]:
    """(adapter folder, the base model its sft run trained, or None for a plain folder)."""
    path = Path(value).expanduser()
    if (path / "adapter_config.json").exists():
        return str(path.resolve()), None
    from experiments.runs.store import RunStore

    store = RunStore.open(value, home)
    manifest = store.manifest()
    if manifest.get("stage") != "sft":
        raise ValueError(f"run {store.run_id} is a {manifest.get('stage')} run, not an sft run")
    summary = manifest.get("summary") or {}
    adapter = Path(summary.get("adapter_path") or store.outputs_dir / "adapter")
    if not (adapter / "adapter_config.json").exists():
        raise FileNotFoundError(f"sft run {store.run_id} has no adapter yet (status {store.effective_status()})")
    return str(adapter), summary.get("base_model")


def merge_for_vllm(value: str, out_dir: str | os.PathLike[str], base_model: str | None = None,
                   home: str | os.PathLike[str] | None = None) -> str:
    """A full model folder for vLLM (its LoRA loader takes neither the new-token rows nor a larger vocabulary)."""
    from backends.embedded import resolve_model
    from backends.lora_trainer import merge_adapter

    adapter, trained_on = resolve_adapter(value, home)
    base = base_model or trained_on
    if not base:
        raise ValueError("name the base model of a plain adapter folder")
    return merge_adapter(resolve_model(base), adapter, out_dir)
