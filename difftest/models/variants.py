"""``tiny:<variant>`` models: the tiny recipe's family (:data:`tiny.VARIANTS`), each built once in
the cache in every format its architecture and tokenizer can be written in (HF always; GGUF for
Llama with a byte-level vocabulary; ONNX with past key/values). A format a variant lacks is left
out of its ModelSpec, so the engines that need it skip with :data:`tiny.UNSUPPORTED_FORMATS`' reason."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from enginebugs.difftest.protocol import ModelSpec

from . import tiny
from .cache import build_once, recipe_hash

GGUF_DTYPES = ("f32", "f16", "q8_0")


def variant_names(name: str) -> list[str]:
    """``tiny:all`` -> every variant; ``tiny:<v>`` -> [v] (KeyError for an unknown one)."""
    variant = name.partition(":")[2]
    if variant == "all":
        return list(tiny.VARIANTS)
    tiny.variant_recipe(variant)
    return [variant]


def build_variant(root: Path, variant: str, progress: Callable[[str], None]) -> ModelSpec:
    rhash = recipe_hash(tiny.variant_recipe(variant))
    target = root / "models" / f"tiny-{variant}-{rhash}"
    skip = tiny.UNSUPPORTED_FORMATS.get(variant, {})

    def build(tmp: Path) -> None:
        from .to_gguf import write_gguf
        from .to_onnx import export_onnx

        progress(f"tiny:{variant}: training its tokenizer and writing HF safetensors")
        tiny.build_variant_hf(variant, tmp / "hf")
        if "gguf" not in skip:
            for dtype in GGUF_DTYPES:
                progress(f"tiny:{variant}: writing GGUF {dtype}")
                write_gguf(tmp / "hf", tmp / f"tiny-{dtype}.gguf", dtype)
        if "onnx" not in skip:
            progress(f"tiny:{variant}: exporting ONNX with past key/values")
            export_onnx(tmp / "hf", tmp / "onnx")

    build_once(target, build)
    files = {"hf": str(target / "hf")}
    if "onnx" not in skip:
        files["onnx"] = str(target / "onnx")
    if "gguf" not in skip:
        files.update({f"gguf-{d}": str(target / f"tiny-{d}.gguf") for d in GGUF_DTYPES})
    cfg = json.loads((target / "hf" / "config.json").read_text())
    name = "tiny" if variant == "llama" else f"tiny:{variant}"
    return ModelSpec(name=name, files=files, recipe_hash=rhash, context_length=cfg["max_position_embeddings"],
                     vocab_size=cfg["vocab_size"], bos_token_id=cfg["bos_token_id"], eos_token_id=cfg["eos_token_id"])
