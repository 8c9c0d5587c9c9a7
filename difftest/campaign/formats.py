"""The extra formats a campaign needs beyond what :func:`enginebugs.difftest.models.get_model` builds.

* ``gguf-f32``: the quantized GGUF with every tensor dequantized to F32 (the same fp32 values
  transformers loads with ``gguf_file=``), metadata copied unchanged except the file type. llama.cpp
  F32 vs transformers fp32 then isolates engine differences from quantization.
* ``onnx``: the dequantized HF checkpoint exported with :func:`enginebugs.difftest.models.to_onnx.export_onnx`.

Both are built once into the model's cache folder (``build_once``). A format that cannot be built
is returned as skipped with the reason; the campaign reports it instead of stopping.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from enginebugs.difftest.models.cache import build_once
from enginebugs.difftest.models.to_onnx import EXPORT_VERSION, export_onnx
from enginebugs.difftest.protocol import ModelSpec

Progress = Callable[[str], None]


def dequantize_gguf(src: Path, dst: Path) -> Path:
    """Write ``src`` with every tensor dequantized to F32 into ``dst`` (streamed tensor by tensor)."""
    import gguf

    reader = gguf.GGUFReader(str(src))
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(str(dst), arch)
    for field in reader.fields.values():
        if field.name in (gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.FILE_TYPE) or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    shapes = []
    for t in reader.tensors:
        shape = tuple(int(d) for d in reversed(t.shape))  # numpy order
        shapes.append(shape)
        writer.add_tensor_info(t.name, shape, np.dtype(np.float32), int(np.prod(shape)) * 4,
                               raw_dtype=gguf.GGMLQuantizationType.F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t, shape in zip(reader.tensors, shapes):
        data = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False).reshape(shape)
        writer.write_tensor_data(data)
    writer.close()
    return dst


def _model_dir(spec: ModelSpec, key: str) -> Path:
    """The cache folder of ``spec``: the one holding the ``files[key]`` folder (``hf``) or the folder
    of the ``files[key]`` file (``gguf/<name>.gguf``)."""
    path = Path(spec.files[key]).resolve()
    return path.parent if path.is_dir() else path.parent.parent


def ensure_formats(spec: ModelSpec, wanted: tuple[str, ...], progress: Progress) -> tuple[ModelSpec, dict[str, str]]:
    """``spec`` with ``gguf-f32`` and/or ``onnx`` added (built once) where ``wanted`` and missing;
    and ``{format: reason}`` for those that could not be built."""
    files, skipped = dict(spec.files), {}
    quantized = next((k for k in files if k.startswith("gguf-q")), None)
    if "gguf-f32" in wanted and "gguf-f32" not in files:
        if quantized is None:
            skipped["gguf-f32"] = "no quantized GGUF to dequantize"
        else:
            src = Path(files[quantized])

            def build_f32(tmp: Path) -> None:
                progress(f"dequantizing {src.name} to an F32 GGUF (once)")
                dequantize_gguf(src, tmp / "model-f32.gguf")
            try:
                files["gguf-f32"] = str(build_once(_model_dir(spec, quantized) / "campaign-gguf-f32", build_f32)
                                        / "model-f32.gguf")
            except Exception as exc:  # noqa: BLE001 - reported as a skipped configuration
                skipped["gguf-f32"] = f"F32 GGUF conversion failed: {type(exc).__name__}: {exc}"
    if "onnx" in wanted and "onnx" not in files:
        if "hf" not in files:
            skipped["onnx"] = "no dequantized HF checkpoint to export"
        else:
            hf = Path(files["hf"])

            def build_onnx(tmp: Path) -> None:
                progress("exporting the fp32 checkpoint to ONNX with past key/values (once; minutes)")
                export_onnx(hf, tmp)
                (tmp / "source.json").write_text(json.dumps({"hf": str(hf)}))
            try:
                folder = _model_dir(spec, "hf") / f"campaign-onnx-v{EXPORT_VERSION}"
                files["onnx"] = str(build_once(folder, build_onnx))
            except Exception as exc:  # noqa: BLE001
                skipped["onnx"] = f"ONNX export failed: {type(exc).__name__}: {str(exc)[:300]}"
    return ModelSpec(**{**spec.to_dict(), "files": files}), skipped
