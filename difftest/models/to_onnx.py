"""HF causal LM -> ONNX with explicit past key/values, so ONNX Runtime exercises the KV-cache path.

Graph inputs: ``input_ids`` (batch, seq), ``attention_mask`` (batch, past+seq), ``position_ids``
(batch, seq), ``past_key_{i}``/``past_value_{i}`` (batch, kv_heads, past, head_dim). Outputs:
``logits`` (batch, seq, vocab) and ``present_key_{i}``/``present_value_{i}`` (past+seq). The legacy
TorchScript exporter is used with an explicit attention mask (transformers 5.x needs one) and
eager attention so the mask is a real graph input, not a shape-specialised shortcut.

The cache handed to the model is a plain ``DynamicCache()`` whatever the model's config says: a
sliding-window layer (Gemma 3's local layers) would keep only the last ``sliding_window`` tokens,
and the traced graph, specialised to the short example, then fails to concatenate past and new
keys once a sequence passes the window (seen: ``Concat`` error past 512 tokens). With full-length
caches the sliding window lives in the attention mask only, as in an unsliced recompute.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

ONNX_FILE = "model.onnx"
OPSET = 17
#: Bumped when the exported graph changes, so cached exports are rebuilt (3: weights in an external
#: data file).
EXPORT_VERSION = 3
#: The weights beside the graph: ONNX Runtime reads raw tensors from it instead of parsing them out
#: of one protobuf (Gemma-3 270M, 1.7 GB: session creation 20 s -> 7 s here).
DATA_FILE = ONNX_FILE + ".data"


def io_names(n_layers: int) -> tuple[list[str], list[str]]:
    past = [f"past_{kind}_{i}" for i in range(n_layers) for kind in ("key", "value")]
    present = [f"present_{kind}_{i}" for i in range(n_layers) for kind in ("key", "value")]
    return ["input_ids", "attention_mask", "position_ids", *past], ["logits", *present]


def export_onnx(hf_dir: Path, out_dir: Path) -> Path:
    """Export ``hf_dir`` to ``out_dir/model.onnx`` with its weights in ``out_dir/model.onnx.data``."""
    import torch
    from transformers import AutoModelForCausalLM, DynamicCache

    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32, attn_implementation="eager").eval()
    cfg = model.config
    n_layers, kv_heads = cfg.num_hidden_layers, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads

    class WithPast(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = DynamicCache()  # full-length layers, see the module docstring
            for i in range(n_layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=cache, use_cache=True)
            presents = []
            for i in range(n_layers):
                layer = out.past_key_values.layers[i]
                presents += [layer.keys, layer.values]
            return (out.logits, *presents)

    batch, past_len, seq = 2, 3, 4
    input_ids = torch.randint(3, cfg.vocab_size, (batch, seq))
    mask = torch.ones(batch, past_len + seq, dtype=torch.long)
    mask[1, :2] = 0  # a left-padded row, so the exporter cannot specialise the mask away
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)[:, past_len:]
    past = [torch.randn(batch, kv_heads, past_len, head_dim) for _ in range(2 * n_layers)]
    inputs, outputs = io_names(n_layers)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"},
            "position_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
    for name in inputs[3:]:
        axes[name] = {0: "batch", 2: "past"}
    for name in outputs[1:]:
        axes[name] = {0: "batch", 2: "total"}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ONNX_FILE
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the (intended) fixed control flow
        torch.onnx.export(WithPast().eval(), (input_ids, mask, position_ids, *past), str(path), dynamo=False,
                          input_names=inputs, output_names=outputs, dynamic_axes=axes, opset_version=OPSET)
    externalize_weights(path)
    (out_dir / "io.json").write_text(json.dumps(
        {"inputs": inputs, "outputs": outputs, "n_layers": n_layers, "kv_heads": kv_heads, "head_dim": head_dim}))
    return path


def externalize_weights(path: Path) -> None:
    """Rewrite ``path`` with every tensor over 1 KB in one external data file beside it."""
    import onnx

    graph = onnx.load(str(path))
    onnx.save_model(graph, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=DATA_FILE,
                    size_threshold=1024)
