"""What a campaign runs for a model: the configurations of each part and the prompt kinds.

Logit part: the fp32 reference (transformers on the dequantized checkpoint) against llama.cpp on
the quantized GGUF, llama.cpp on the F32 GGUF (engine differences without quantization) and ONNX
Runtime on the fp32 export. Cache part: llama.cpp on the quantized GGUF with one knob changed at a
time (n_batch, n_ubatch, threads, prefix reuse off, state save/restore).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from enginebugs.difftest.protocol import EngineConfig, ModelSpec

#: The quantized GGUF each model is shipped or built as.
QUANTIZED = {"gemma3-270m": "q4_K", "tiny": "q8_0"}
#: Tokens of slack above the longest prompt for the generated tokens and llama.cpp's rounding.
CTX_SLACK = 64


def config(engine: str, dtype: str, **options) -> EngineConfig:
    """A configuration whose label names only engine, dtype and the knobs that are the point of
    it (``extra``); context size and thread pinning stay out of the label."""
    label_knobs = options.pop("label_knobs", {})
    label = f"{engine}:{dtype}" + ("[" + ",".join(f"{k}={v}" for k, v in label_knobs.items()) + "]"
                                   if label_knobs else "")
    return EngineConfig(engine, dtype, {**options, **label_knobs}, label)


@dataclass
class Plan:
    reference: EngineConfig
    logit_configs: list[EngineConfig]
    cache_base: EngineConfig
    cache_variants: list[EngineConfig] = field(default_factory=list)

    @property
    def logit_all(self) -> list[EngineConfig]:
        return [self.reference, *self.logit_configs]

    @property
    def cache_all(self) -> list[EngineConfig]:
        return [self.cache_base, *self.cache_variants]


def round_ctx(tokens: int) -> int:
    return max(256, -(-(tokens + CTX_SLACK) // 256) * 256)


def make_plan(model: ModelSpec, engines: list[str], longest_prompt: int, longest_cache_prompt: int,
              threads: int = 1) -> Plan:
    """The configurations for ``model`` restricted to ``engines`` (transformers is the reference
    and always runs; llama.cpp is needed for the cache part)."""
    quant = QUANTIZED.get(model.name, "q8_0")
    n_ctx = min(round_ctx(longest_prompt), model.context_length or 10 ** 6)
    ref = config("transformers", "f32", threads=threads)
    others = []
    if "llamacpp" in engines:
        others += [config("llamacpp", quant, threads=threads, n_ctx=n_ctx),
                   config("llamacpp", "f32", threads=threads, n_ctx=n_ctx)]
    if "onnxruntime" in engines:
        others.append(config("onnxruntime", "f32", threads=threads))
    for name in engines:
        if name not in ("transformers", "llamacpp", "onnxruntime"):
            others.append(config(name, "f32"))
    cache_ctx = min(round_ctx(longest_cache_prompt), n_ctx)
    base = dict(threads=1, n_ctx=cache_ctx)
    return Plan(ref, others, config("llamacpp", quant, **base), [
        config("llamacpp", quant, **base, label_knobs={"n_batch": 7}),
        config("llamacpp", quant, **base, label_knobs={"n_ubatch": 4}),
        config("llamacpp", quant, n_ctx=cache_ctx, label_knobs={"threads": 2}),
        config("llamacpp", quant, **base, label_knobs={"prefix_cache": False}),
        config("llamacpp", quant, **base, label_knobs={"state_roundtrip": True}),
    ])


# -- prompt kinds --------------------------------------------------------------------------------
KINDS = ("prose", "code", "multilingual", "long")
LONG_TOKENS = 200
_CODE = re.compile(r"(\bdef |\bclass |\bimport |#include|\bfn |\bfunc |\bfunction\b|\bSELECT\b|[{};]\s*\n|"
                   r"</?\w+>|^\s*#!|\breturn\b)", re.MULTILINE)


def prompt_kind(text: str, n_tokens: int) -> str:
    """``long`` (>= 200 tokens), ``code``, ``multilingual`` (> 15% non-ASCII letters) or ``prose``."""
    if n_tokens >= LONG_TOKENS:
        return "long"
    letters = [c for c in text if c.isalpha()]
    if letters and sum(not c.isascii() for c in letters) / len(letters) > 0.15:
        return "multilingual"
    if _CODE.search(text) or text.lstrip().startswith(("{", "[", "<")):
        return "code"
    return "prose"
