"""HF Llama checkpoint -> GGUF (f32, f16, q8_0) with the maintained ``gguf`` package's writer.

Tensor names, the Q/K row permutation (HF's rotate-half RoPE -> GGML's interleaved RoPE) and the
byte-level BPE vocabulary follow llama.cpp's own ``convert_hf_to_gguf.py`` for ``LlamaModel``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: dtype key -> (GGML tensor type for 2-D weights, general.file_type)
GGUF_TYPES = {"f32": ("F32", "ALL_F32"), "f16": ("F16", "MOSTLY_F16"), "q8_0": ("Q8_0", "MOSTLY_Q8_0")}

_LAYER_NAMES = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def gguf_tensor_name(hf_name: str) -> str:
    if hf_name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf_name == "model.norm.weight":
        return "output_norm.weight"
    if hf_name == "lm_head.weight":
        return "output.weight"
    parts = hf_name.split(".")  # model.layers.{i}.<module...>.weight
    module = ".".join(parts[3:-1])
    return f"blk.{parts[2]}.{_LAYER_NAMES[module]}.weight"


def permute_for_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder Q/K rows from rotate-half pairs to interleaved pairs (llama.cpp's ``LlamaModel.permute``)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _vocab(hf_dir: Path) -> tuple[list[str], list[int], list[str]]:
    tj = json.loads((hf_dir / "tokenizer.json").read_text())
    vocab: dict[str, int] = tj["model"]["vocab"]
    for added in tj.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
    special_ids = {a["id"] for a in tj.get("added_tokens", []) if a.get("special")}
    tokens = [""] * len(vocab)
    for text, idx in vocab.items():
        tokens[idx] = text
    types = [3 if i in special_ids else 1 for i in range(len(tokens))]  # CONTROL / NORMAL
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    return tokens, types, merges


def write_gguf(hf_dir: Path, out_path: Path, dtype: str) -> None:
    """Write ``hf_dir`` (a Llama safetensors checkpoint) as one GGUF file of ``dtype``."""
    import gguf
    from safetensors.numpy import load_file

    tensor_type, file_type = GGUF_TYPES[dtype]
    cfg = json.loads((hf_dir / "config.json").read_text())
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    w = gguf.GGUFWriter(str(out_path), "llama")
    w.add_name(f"enginebugs-tiny-{dtype}")
    w.add_vocab_size(cfg["vocab_size"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(float(cfg.get("rope_theta") or cfg["rope_parameters"]["rope_theta"]))
    w.add_layer_norm_rms_eps(float(cfg["rms_norm_eps"]))
    w.add_file_type(int(getattr(gguf.LlamaFileType, file_type)))
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    tokens, types, merges = _vocab(hf_dir)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")  # llama.cpp name of the GPT-2 regex
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])
    w.add_pad_token_id(cfg["pad_token_id"])
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    qtype = getattr(gguf.GGMLQuantizationType, tensor_type)
    for name, arr in load_file(str(hf_dir / "model.safetensors")).items():
        arr = arr.astype(np.float32)
        if name.endswith("q_proj.weight"):
            arr = permute_for_rope(arr, cfg["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            arr = permute_for_rope(arr, cfg["num_key_value_heads"])
        if arr.ndim == 1 or tensor_type == "F32":
            w.add_tensor(gguf_tensor_name(name), arr)
        elif tensor_type == "F16":
            w.add_tensor(gguf_tensor_name(name), arr.astype(np.float16))
        else:
            w.add_tensor(gguf_tensor_name(name), gguf.quants.quantize(arr, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
