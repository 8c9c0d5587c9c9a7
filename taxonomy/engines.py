"""Engine names: one display name per engine, whatever spelling a user, a preset, the paper's
dataset or the differential tester uses (``llama.cpp``/``llamacpp``, ``vLLM``/``vllm``, ...)."""
from __future__ import annotations

import re
from collections.abc import Iterable

#: Display names (as stored in the ``engine`` column) of the engines the project knows.
DISPLAY_NAMES = ("llama.cpp", "vLLM", "DeepSpeed", "MLC-LLM", "TensorRT-LLM", "SGLang", "Ollama",
                 "llama-cpp-python", "ONNX Runtime", "transformers")
#: Spellings that do not reduce to their display name's key.
ALIASES = {"ort": "ONNX Runtime", "trtllm": "TensorRT-LLM", "mlc": "MLC-LLM", "hf": "transformers",
           "llamacpppython": "llama-cpp-python"}


def key(name: str) -> str:
    """Case- and punctuation-blind form: ``llama.cpp``, ``llamacpp`` and ``LLaMA-cpp`` -> ``llamacpp``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def canonical(name: str, known: Iterable[str] = ()) -> str | None:
    """The display name ``name`` stands for among the project's engines and ``known`` (e.g. the
    engines present in a store), or None."""
    wanted = key(name)
    candidates = {key(n): n for n in (*DISPLAY_NAMES, *known)}
    if wanted in candidates:
        return candidates[wanted]
    return ALIASES.get(wanted)


def display(name: str) -> str:
    """The display name of an engine registry name (``llamacpp`` -> ``llama.cpp``); unknown names as given."""
    return canonical(name) or name
