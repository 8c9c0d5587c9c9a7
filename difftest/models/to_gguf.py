"""HF decoder checkpoint -> GGUF (f32, f16, bf16, q8_0, q4_0, ...) with the maintained ``gguf`` package.

The installed llama.cpp ships no ``convert_hf_to_gguf.py``, so this follows it for the
architectures in :data:`ARCHS` (Llama, Mistral, Qwen2, Qwen3): tensor names from ``gguf``'s own
``TensorNameMap``, the Q/K row permutation of ``LlamaModel`` (HF's rotate-half RoPE -> GGML's
interleaved RoPE; Qwen keeps NEOX RoPE unpermuted), and byte-level BPE vocabularies with the
GPT-2 pre-tokenizer. Anything else raises :class:`ConversionUnsupported` with the reason, which
the run reports as the skip reason of the llama.cpp configurations.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: dtype key -> (GGML tensor type for 2-D weights, general.file_type)
GGUF_TYPES = {"f32": ("F32", "ALL_F32"), "f16": ("F16", "MOSTLY_F16"), "bf16": ("BF16", "MOSTLY_BF16"),
              "q8_0": ("Q8_0", "MOSTLY_Q8_0"), "q4_0": ("Q4_0", "MOSTLY_Q4_0"), "q4_1": ("Q4_1", "MOSTLY_Q4_1"),
              "q5_0": ("Q5_0", "MOSTLY_Q5_0"), "q5_1": ("Q5_1", "MOSTLY_Q5_1")}
#: HF architecture -> (GGUF architecture, permute Q/K rows for GGML's interleaved RoPE)
ARCHS = {"LlamaForCausalLM": ("llama", True), "MistralForCausalLM": ("llama", True),
         "Qwen2ForCausalLM": ("qwen2", False), "Qwen3ForCausalLM": ("qwen3", False)}


class ConversionUnsupported(RuntimeError):
    """This converter cannot write the checkpoint as GGUF (the message says why)."""


def gguf_tensor_name(hf_name: str, arch: str = "llama", n_blocks: int = 64) -> str:
    """The GGUF name of an HF tensor (``gguf.TensorNameMap``)."""
    import gguf

    arch_id = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch)
    name = gguf.get_tensor_name_map(arch_id, n_blocks).get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if name is None:
        raise ConversionUnsupported(f"no GGUF name for tensor {hf_name!r} of a {arch} model")
    return name


def permute_for_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder Q/K rows from rotate-half pairs to interleaved pairs (llama.cpp's ``LlamaModel.permute``)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _vocab(hf_dir: Path) -> tuple[list[str], list[int], list[str]]:
    tj = json.loads((hf_dir / "tokenizer.json").read_text())
    model, pre = tj.get("model", {}), tj.get("pre_tokenizer") or {}
    if model.get("type") != "BPE" or pre.get("type") != "ByteLevel" or not pre.get("use_regex", True):
        raise ConversionUnsupported(
            f"tokenizer {model.get('type')} with pre-tokenizer {pre.get('type')} is not a GPT-2 style byte-level "
            "BPE (convert it with llama.cpp's convert_hf_to_gguf.py and pass the GGUF file)")
    vocab: dict[str, int] = model["vocab"]
    for added in tj.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
    special_ids = {a["id"] for a in tj.get("added_tokens", []) if a.get("special")}
    tokens = [""] * (max(vocab.values()) + 1)
    for text, idx in vocab.items():
        tokens[idx] = text
    types = [3 if i in special_ids else 1 for i in range(len(tokens))]  # CONTROL / NORMAL
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return tokens, types, merges


def chat_template(hf_dir: Path) -> str | None:
    """The HF checkpoint's chat template (``chat_template.jinja`` or tokenizer_config's string), as
    llama.cpp's converter copies it into ``tokenizer.chat_template``."""
    jinja = hf_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    tcfg = hf_dir / "tokenizer_config.json"
    template = json.loads(tcfg.read_text(encoding="utf-8")).get("chat_template") if tcfg.is_file() else None
    return template if isinstance(template, str) else None


def _adds_bos(hf_dir: Path, bos_id: int | None) -> bool:
    """Whether the HF tokenizer prepends BOS (so llama.cpp is told to do the same)."""
    from tokenizers import Tokenizer

    if bos_id is None:
        return False
    ids = Tokenizer.from_file(str(hf_dir / "tokenizer.json")).encode("a", add_special_tokens=True).ids
    return bool(ids) and ids[0] == bos_id


def _tensors(hf_dir: Path):
    from safetensors.numpy import load_file

    files = sorted(hf_dir.glob("*.safetensors"))
    if not files:
        raise ConversionUnsupported(f"{hf_dir} has no .safetensors weights")
    for f in files:
        try:
            tensors = load_file(str(f))
        except TypeError as exc:  # bf16 has no numpy dtype: go through torch
            from safetensors.torch import load_file as load_torch

            tensors = {k: v.float().numpy() for k, v in load_torch(str(f)).items()}
            del exc
        yield from tensors.items()


def write_gguf(hf_dir: Path, out_path: Path, dtype: str, name: str | None = None) -> None:
    """Write ``hf_dir`` (a safetensors checkpoint of an :data:`ARCHS` architecture) as one GGUF file
    of ``dtype``; :class:`ConversionUnsupported` when it cannot."""
    import gguf

    if dtype not in GGUF_TYPES:
        raise ConversionUnsupported(f"cannot write GGUF {dtype!r} (can: {', '.join(GGUF_TYPES)})")
    tensor_type, file_type = GGUF_TYPES[dtype]
    cfg = json.loads((hf_dir / "config.json").read_text())
    hf_arch = (cfg.get("architectures") or ["?"])[0]
    if hf_arch not in ARCHS:
        raise ConversionUnsupported(f"enginebugs' GGUF converter does not handle {hf_arch} "
                                    f"(handles {', '.join(sorted(ARCHS))})")
    arch, permute = ARCHS[hf_arch]
    tokens, types, merges = _vocab(hf_dir)
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or cfg["num_attention_heads"]
    rope = cfg.get("rope_theta") or (cfg.get("rope_parameters") or {}).get("rope_theta") or 10000.0
    w = gguf.GGUFWriter(str(out_path), arch)
    w.add_name(name or f"{hf_dir.name}-{dtype}")
    w.add_vocab_size(cfg["vocab_size"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(n_kv)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(float(rope))
    w.add_layer_norm_rms_eps(float(cfg["rms_norm_eps"]))
    w.add_file_type(int(getattr(gguf.LlamaFileType, file_type)))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")  # llama.cpp name of the GPT-2 regex
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for key, add in (("bos_token_id", w.add_bos_token_id), ("eos_token_id", w.add_eos_token_id),
                     ("pad_token_id", w.add_pad_token_id)):
        if isinstance(cfg.get(key), int):
            add(cfg[key])
    w.add_add_bos_token(_adds_bos(hf_dir, cfg.get("bos_token_id")))
    w.add_add_eos_token(False)
    template = chat_template(hf_dir)
    if template:
        w.add_chat_template(template)

    qtype = getattr(gguf.GGMLQuantizationType, tensor_type)
    n_blocks = cfg["num_hidden_layers"]
    for hf_name, arr in _tensors(hf_dir):
        if "rotary_emb" in hf_name:
            continue
        arr = arr.astype(np.float32)
        if permute and hf_name.endswith("q_proj.weight"):
            arr = permute_for_rope(arr, cfg["num_attention_heads"])
        elif permute and hf_name.endswith("k_proj.weight"):
            arr = permute_for_rope(arr, n_kv)
        target = gguf_tensor_name(hf_name, arch, n_blocks)
        if arr.ndim == 1 or tensor_type == "F32":
            w.add_tensor(target, arr)
        elif tensor_type == "F16":
            w.add_tensor(target, arr.astype(np.float16))
        else:
            w.add_tensor(target, gguf.quants.quantize(arr, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
