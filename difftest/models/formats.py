"""Derive the formats a run's engines need from whatever a model comes as, each built once.

A model's cache folder holds its source (an HF directory or a GGUF file, possibly elsewhere) and
the formats derived from it, one ``build_once`` folder each:

* ``hf``: from a GGUF with transformers' ``gguf_file=`` (dequantized to fp32, saved as safetensors);
* ``gguf-<dtype>``: from an HF directory with :func:`~.to_gguf.write_gguf`, else by re-encoding an
  existing GGUF (``gguf-f32`` of a quantized file is its dequantized weights, the same fp32 values
  transformers loads, so llama.cpp F32 vs transformers isolates engine from quantization);
* ``onnx``: the ``hf`` checkpoint exported with past key/values (:func:`~.to_onnx.export_onnx`).

A format that cannot be built is returned with the converter's reason instead of stopping: the
engines needing it are skipped with that reason, the others run.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .cache import build_once

Progress = Callable[[str], None]
#: GGUF ``general.file_type`` names -> the dtype in ``gguf-<dtype>`` keys and ``llamacpp:<dtype>`` configs.
FILE_TYPE_DTYPE = {"ALL_F32": "f32", "MOSTLY_F16": "f16", "MOSTLY_BF16": "bf16", "MOSTLY_Q8_0": "q8_0",
                   "MOSTLY_Q4_0": "q4_0", "MOSTLY_Q4_1": "q4_1", "MOSTLY_Q5_0": "q5_0", "MOSTLY_Q5_1": "q5_1",
                   "MOSTLY_Q2_K": "q2_K", "MOSTLY_Q3_K_S": "q3_K", "MOSTLY_Q3_K_M": "q3_K", "MOSTLY_Q3_K_L": "q3_K",
                   "MOSTLY_Q4_K_S": "q4_K", "MOSTLY_Q4_K_M": "q4_K", "MOSTLY_Q5_K_S": "q5_K", "MOSTLY_Q5_K_M": "q5_K",
                   "MOSTLY_Q6_K": "q6_K"}


def gguf_dtype(path: Path) -> str:
    """The ``gguf-<dtype>`` a GGUF file provides, from its ``general.file_type``."""
    import gguf

    from .gguf_meta import read_metadata

    code = read_metadata(path, {"general.file_type"}).get("general.file_type", 0)
    try:
        name = gguf.LlamaFileType(code).name
    except ValueError:
        name = str(code)
    return FILE_TYPE_DTYPE.get(name, name.lower().replace("mostly_", ""))


def convert_gguf(src: Path, dst: Path, dtype: str = "f32") -> Path:
    """Write ``src`` with every tensor dequantized to F32 (``dtype="f32"``, streamed tensor by tensor)
    or re-encoded as ``dtype`` (2-D weights; norms and other vectors stay F32) into ``dst``."""
    import gguf

    from .to_gguf import GGUF_TYPES, ConversionUnsupported

    if dtype not in GGUF_TYPES:
        raise ConversionUnsupported(f"cannot re-encode a GGUF as {dtype!r} (can: {', '.join(GGUF_TYPES)})")
    tensor_type, file_type = GGUF_TYPES[dtype]
    qtype = getattr(gguf.GGMLQuantizationType, tensor_type)
    reader = gguf.GGUFReader(str(src))
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(str(dst), arch)
    for field in reader.fields.values():
        if field.name in (gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.FILE_TYPE) or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    writer.add_file_type(int(getattr(gguf.LlamaFileType, file_type)))

    def fp32(t) -> np.ndarray:
        shape = tuple(int(d) for d in reversed(t.shape))  # numpy order
        return gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32, copy=False).reshape(shape)

    if dtype == "f32":
        shapes = [tuple(int(d) for d in reversed(t.shape)) for t in reader.tensors]
        for t, shape in zip(reader.tensors, shapes):
            writer.add_tensor_info(t.name, shape, np.dtype(np.float32), int(np.prod(shape)) * 4,
                                   raw_dtype=gguf.GGMLQuantizationType.F32)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for t in reader.tensors:
            writer.write_tensor_data(fp32(t))
    else:  # re-encoded tensors are held in memory until written
        for t in reader.tensors:
            data = fp32(t)
            if data.ndim == 1:
                writer.add_tensor(t.name, data)
            elif tensor_type == "F16":
                writer.add_tensor(t.name, data.astype(np.float16))
            else:
                writer.add_tensor(t.name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    writer.close()
    return dst


def hf_from_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Dequantize ``gguf_path`` with transformers and save fp32 safetensors + tokenizer to ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # The weights are already dequantized to fp32; drop the GGUF "quantizer" so transformers saves
    # them as a plain checkpoint (it refuses to serialise a model it considers GGUF-quantized).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)


def _reason(what: str, exc: BaseException) -> str:
    from .to_gguf import ConversionUnsupported

    if isinstance(exc, ConversionUnsupported):
        return str(exc)
    return f"{what} failed: {type(exc).__name__}: {str(exc)[:300]}"


def derive_formats(folder: Path, files: dict[str, str], wanted: Iterable[str], progress: Progress,
                   label: str = "model") -> tuple[dict[str, str], dict[str, str]]:
    """``files`` plus every ``wanted`` format built (once, under ``folder``) from what ``files`` has;
    and ``{format: reason}`` for those that could not be built."""
    from .to_gguf import write_gguf
    from .to_onnx import EXPORT_VERSION, export_onnx

    files, skipped = dict(files), {}
    wanted = list(dict.fromkeys(wanted))
    if "onnx" in wanted and "hf" not in wanted:
        wanted.insert(0, "hf")  # the ONNX export and its tokenizer come from the HF checkpoint
    ggufs = [k for k in files if k.startswith("gguf-")]
    if "hf" in wanted and "hf" not in files:
        if not ggufs:
            skipped["hf"] = "no HF checkpoint and no GGUF to dequantize"
        else:
            src = Path(files[min(ggufs, key=lambda k: k != "gguf-f32")])

            def dequantize(tmp: Path) -> None:
                progress(f"dequantizing {src.name} with transformers into safetensors (once)")
                hf_from_gguf(src, tmp)
            try:
                files["hf"] = str(build_once(folder / "hf", dequantize))
            except Exception as exc:  # noqa: BLE001 - reported as a skipped format
                skipped["hf"] = _reason("transformers GGUF loading", exc)
    for key in [k for k in wanted if k.startswith("gguf-") and k not in files]:
        dtype = key[len("gguf-"):]
        hf_dir = files.get("hf") if "hf" in files and not ggufs else None
        source = None if hf_dir else next((files[k] for k in ("gguf-f32", "gguf-f16", "gguf-bf16") if k in files),
                                          files[ggufs[0]] if ggufs else None)

        def build(tmp: Path, dtype: str = dtype, hf_dir=hf_dir, source=source) -> None:
            if hf_dir:
                progress(f"converting the HF checkpoint to GGUF {dtype} (once)")
                write_gguf(Path(hf_dir), tmp / f"model-{dtype}.gguf", dtype, name=f"{label}-{dtype}")
            else:
                progress(f"re-encoding {Path(source).name} as GGUF {dtype} (once)")
                convert_gguf(Path(source), tmp / f"model-{dtype}.gguf", dtype)
        if hf_dir is None and source is None:
            skipped[key] = skipped.get("hf") or "no HF checkpoint or GGUF to convert"
            continue
        try:
            files[key] = str(build_once(folder / key, build) / f"model-{dtype}.gguf")
        except Exception as exc:  # noqa: BLE001
            skipped[key] = _reason(f"GGUF {dtype} conversion", exc)
    if "onnx" in wanted and "onnx" not in files:
        if "hf" not in files:
            skipped["onnx"] = f"no HF checkpoint to export ({skipped.get('hf', 'none')})"
        else:
            hf = Path(files["hf"])

            def build_onnx(tmp: Path) -> None:
                progress("exporting the fp32 checkpoint to ONNX with past key/values (once)")
                export_onnx(hf, tmp)
                (tmp / "source.json").write_text(json.dumps({"hf": str(hf)}))
            try:
                files["onnx"] = str(build_once(folder / f"onnx-v{EXPORT_VERSION}", build_onnx))
            except Exception as exc:  # noqa: BLE001
                skipped["onnx"] = _reason("ONNX export", exc)
    return files, skipped
