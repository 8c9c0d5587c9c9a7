"""What an older transformers in the supported range (>= 4.50) needs to load a model folder that a
newer one (5.x) wrote: ``torch_dtype=`` instead of ``dtype=`` before 4.56, and, before 5.0, a
config with ``rope_theta`` (5.x nests it in ``rope_parameters``) and a tokenizer class it knows
(5.x writes ``TokenizersBackend``). :func:`readable_hf_dir` writes such a copy (files linked, the
two JSON files rewritten) rather than failing or silently using another RoPE base."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from enginebugs.difftest.versions import release

#: Tokenizer classes of transformers 5.x -> their 4.x spelling.
TOKENIZER_CLASSES = {"TokenizersBackend": "PreTrainedTokenizerFast"}


def dtype_kwarg(version: str) -> str:
    """The ``from_pretrained`` keyword for the weights' dtype: ``dtype`` from 4.56, else ``torch_dtype``."""
    return "dtype" if release(version) >= (4, 56) else "torch_dtype"


def legacy_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """A 5.x ``config.json`` in the 4.x spelling (``rope_theta``/``rope_scaling``/``torch_dtype``;
    Gemma 3's per-layer-type RoPE as ``rope_theta`` + ``rope_local_base_freq``)."""
    cfg = dict(cfg)
    rope = cfg.pop("rope_parameters", None)
    if isinstance(rope, dict):
        if "full_attention" in rope or "sliding_attention" in rope:
            full, local = rope.get("full_attention", {}), rope.get("sliding_attention", {})
            cfg["rope_theta"] = full.get("rope_theta", 10000.0)
            if "rope_theta" in local:
                cfg["rope_local_base_freq"] = local["rope_theta"]
            rope = full
        else:
            cfg["rope_theta"] = rope.get("rope_theta", 10000.0)
        scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
        if scaling.get("rope_type", "default") != "default":
            cfg["rope_scaling"] = scaling
    types = cfg.get("layer_types")
    if isinstance(types, list) and "sliding_attention" in types:
        # Before 4.53 Gemma 3 read its layer types from sliding_window_pattern (every p-th layer full).
        cfg.pop("_sliding_window_pattern", None)
        cfg["sliding_window_pattern"] = next(
            (p for p in range(1, len(types) + 1)
             if all((t == "full_attention") == ((i + 1) % p == 0) for i, t in enumerate(types))), len(types) + 1)
    if "dtype" in cfg and "torch_dtype" not in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    return cfg


def legacy_tokenizer_config(cfg: dict[str, Any]) -> dict[str, Any]:
    cfg = {k: v for k, v in cfg.items() if k != "backend"}
    if cfg.get("tokenizer_class") in TOKENIZER_CLASSES:
        cfg["tokenizer_class"] = TOKENIZER_CLASSES[cfg["tokenizer_class"]]
    return cfg


def readable_hf_dir(path: str | Path, version: str, scratch: str | Path) -> Path:
    """``path`` itself for transformers >= 5, else a copy under ``scratch`` in the 4.x spelling."""
    path = Path(path)
    if release(version) >= (5,):
        return path
    out = Path(scratch) / f"hf-for-{version}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]}"
    out.mkdir(parents=True, exist_ok=True)
    rewrite = {"config.json": legacy_config, "tokenizer_config.json": legacy_tokenizer_config}
    for item in path.iterdir():
        target = out / item.name
        if item.name in rewrite:
            target.write_text(json.dumps(rewrite[item.name](json.loads(item.read_text())), indent=1))
        elif not target.exists():
            os.symlink(item.resolve(), target)
    return out
