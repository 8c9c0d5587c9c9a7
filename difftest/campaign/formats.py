"""The extra formats a campaign needs beyond the model's own: ``gguf-f32`` (a quantized GGUF's
weights dequantized to F32, the same fp32 values transformers loads with ``gguf_file=``) and
``onnx``. Built once into the model's cache folder by the same code as every model's formats
(:func:`enginebugs.difftest.models.formats.derive_formats`); one that cannot be built is
returned as skipped with the reason, and the campaign reports it instead of stopping.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from enginebugs.difftest.models.formats import derive_formats
from enginebugs.difftest.protocol import ModelSpec

Progress = Callable[[str], None]


def _model_dir(spec: ModelSpec) -> Path:
    """The cache folder of ``spec``: the parent of its ``hf`` folder, else of its GGUF's folder."""
    if "hf" in spec.files:
        return Path(spec.files["hf"]).resolve().parent
    gguf = Path(next(v for k, v in spec.files.items() if k.startswith("gguf-"))).resolve()
    return gguf.parent.parent


def ensure_formats(spec: ModelSpec, wanted: tuple[str, ...], progress: Progress) -> tuple[ModelSpec, dict[str, str]]:
    """``spec`` with ``wanted`` formats (``gguf-f32``, ``onnx``...) added where missing, and
    ``{format: reason}`` for those that could not be built."""
    if not spec.files:
        return spec, {fmt: "the model has no files to convert" for fmt in wanted}
    files, skipped = derive_formats(_model_dir(spec), spec.files, wanted, progress, label=spec.name)
    return ModelSpec(**{**spec.to_dict(), "files": files}), skipped
