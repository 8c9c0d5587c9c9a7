"""Keyword labelling functions: regular expressions that vote for a symptom or a root-cause group.

Each function fires on wording that carries across writing styles (hang/deadlock/stuck; slow/
latency/throughput; garbage/repeated/NaN; OOM; ROCm/driver/version; tokenizer/template). They
enter the model as extra features (weak supervision: the learned weights decide how much each vote
counts) and :func:`votes` lists which ones fire, for people reading a suggestion.
"""
from __future__ import annotations

import re

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

_F = re.IGNORECASE
#: name -> (target, class the function votes for, pattern)
LABELLING_FUNCTIONS: dict[str, tuple[str, str, re.Pattern]] = {
    "hang": ("symptom", "system-hang", re.compile(
        r"\b(?:hang(?:s|ing)?|hung|deadlock\w*|stuck|freez\w*|frozen|never (?:returns?|finish\w*|respond\w*|completes?)"
        r"|no (?:response|output|progress)|not respond\w*|wait(?:s|ing)? forever|indefinitely|unresponsive)\b", _F)),
    "slow": ("symptom", "abnormal-performance", re.compile(
        r"\b(?:slow\w*|latency|throughput|tokens?/s|tok/s|ttft|tpot|regression|speed\w*|perf(?:ormance)?|faster"
        r"|utili[sz]ation|memory usage|memory leak|leak\w*|keeps? growing|grows?)\b", _F)),
    "garbage": ("symptom", "unexpected-output", re.compile(
        r"\b(?:garbage|gibberish|nonsense|garbled|repeat\w*|wrong (?:answer|output|result|token)s?|incorrect (?:output|"
        r"answer|result)s?|nan|inf|empty (?:output|response|string)|degenerat\w*|differs? from|mismatch\w* with hf"
        r"|not match\w*|weird (?:output|characters?)|@@@|ggg+)\b", _F)),
    "crash": ("symptom", "crash", re.compile(
        r"\b(?:crash\w*|segfault|segmentation fault|core dumped|abort\w*|traceback|exception|error:|\w+error\b|"
        r"fails? to (?:start|load|build|compile)|failed to (?:start|load|build)|exit(?:s|ed)? with|killed|panic)", _F)),
    "nofx": ("symptom", "feature-failure", re.compile(
        r"\b(?:(?:has|have|had) no effect|not (?:working|work|supported|applied|respected|honou?red)|doesn'?t work|"
        r"does not work|ignored|unable to (?:use|enable)|cannot (?:use|enable)|not (?:take|taking) effect|"
        r"unsupported)\b", _F)),
    "silent": ("symptom", "silent-error", re.compile(
        r"\b(?:silent\w*|quiet\w*|without (?:any )?(?:error|warning)|no (?:error|warning)|unnoticed|truncat\w*|"
        r"dropped|status 200|falls? back)\b", _F)),
    "memory": ("root_cause_group", "resource", re.compile(
        r"\b(?:oom|out of memory|outofmemory\w*|memory|vram|kv ?cache|cache|leak\w*|alloc\w*|free(?:d|ing)?|"
        r"release\w*|gpu_memory_utilization|mem[-_]fraction\w*|device|multi-gpu|cuda:\d)\b", _F)),
    "platform": ("root_cause_group", "environment", re.compile(
        r"\b(?:rocm|hip|amd|mi\d{3}|metal|mps|vulkan|sycl|xpu|intel arc|jetson|v100|t4|5090|blackwell|sm_?\d{2,3}|"
        r"compute capability|driver|toolkit|nvcc|upgrad\w*|downgrad\w*|version|install\w*|wheel|pip|import\w*|"
        r"no module|undefined symbol|cmake|build|compil\w*|transformers==|torch==|avx\w*|windows|macos)\b", _F)),
    "setup": ("root_cause_group", "configuration", re.compile(
        r"(?:--[a-z][\w-]+|\b(?:config\w*|flag|option|setting|param(?:eter)?s?|tensor[-_ ]parallel\w*|pipeline[-_ ]"
        r"parallel\w*|\btp\b|quantiz\w*|awq|gptq|fp8|int4|bf16|fp16|dtype|precision|docs?|documentation|readme|"
        r"architecture|not supported|checkpoint|gguf|lora|adapter|env(?:ironment)? var\w*|seed)\b)", _F)),
    "io": ("root_cause_group", "input-output", re.compile(
        r"\b(?:tokeni[sz]\w*|detokeni[sz]\w*|special tokens?|bos|eos|chat[_ ]template|jinja|template|prompt|"
        r"unicode|utf-?8|emoji|encod\w*|decod\w*|json|schema|tool[_ ]calls?|function call\w*|response_format|"
        r"openai|request|endpoint|stream\w*|image|vision|multimodal|audio)\b", _F)),
    "logic": ("root_cause_group", "functionality", re.compile(
        r"\b(?:kernel|algorithm|implementation|bug in|shape|size of tensor|dimension|dtype mismatch|typeerror|"
        r"assert\w*|race|lock|synchron\w*|thread\w*|overflow|nan|precision loss|off[- ]by[- ]one|wrong (?:offset|"
        r"index|stride|condition)|condition|logic|calculat\w*|comput\w*)\b", _F)),
}


def counts(text: str) -> list[int]:
    """How often each labelling function fires on ``text``, in ``LABELLING_FUNCTIONS`` order."""
    return [len(pattern.findall(text)) for _, _, pattern in LABELLING_FUNCTIONS.values()]


def votes(text: str, target: str) -> dict[str, int]:
    """Classes of ``target`` that the labelling functions vote for, with the number of hits."""
    out: dict[str, int] = {}
    for (tgt, label, _), hits in zip(LABELLING_FUNCTIONS.values(), counts(text)):
        if tgt == target and hits:
            out[label] = out.get(label, 0) + hits
    return out


class SignalFeatures(TransformerMixin, BaseEstimator):
    """Labelling-function hits as features: log(1 + hits), scaled by ``weight``."""

    def __init__(self, weight: float = 0.5):
        self.weight = weight

    def fit(self, texts, y=None):
        return self

    def transform(self, texts):
        return self.weight * np.log1p(np.array([counts(t) for t in texts], dtype=float))

    def get_feature_names_out(self, input_features=None):
        return np.array([f"lf_{name}" for name in LABELLING_FUNCTIONS], dtype=object)
