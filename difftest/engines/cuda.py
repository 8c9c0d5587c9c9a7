"""CUDA variants of the transformers and ONNX Runtime adapters (engines ``transformers-cuda`` and
``onnxruntime-cuda``); vLLM on a GPU is the ``vllm`` engine itself with the official wheel.

They reuse the CPU adapters unchanged: transformers' model is moved to the GPU behind a proxy that
moves inputs there and outputs back (so every numpy conversion still sees CPU tensors); ONNX
Runtime's session is rebuilt with the CUDA execution provider. Without a GPU each ``load`` raises
:class:`~enginebugs.difftest.protocol.Unsupported` with the reason, so runs and tests skip them.
"""
from __future__ import annotations

from typing import Any

from enginebugs.difftest.engines.onnxruntime_engine import OnnxRuntimeEngine
from enginebugs.difftest.engines.transformers_engine import TransformersEngine
from enginebugs.difftest.protocol import Unsupported

CUDA_EP = "CUDAExecutionProvider"


class _OnDevice:
    """A causal LM on ``device`` that takes and returns CPU tensors (``__call__`` and ``generate``)."""

    def __init__(self, lm: Any, device: str) -> None:
        self.lm, self.device = lm, device

    def _to(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(self.device) if hasattr(v, "to") and hasattr(v, "device") else v for k, v in kwargs.items()}

    def __call__(self, **kwargs: Any) -> Any:
        out = self.lm(**self._to(kwargs))
        out.logits = out.logits.cpu()
        return out

    def generate(self, **kwargs: Any) -> Any:
        out = self.lm.generate(**self._to(kwargs))
        out.sequences = out.sequences.cpu()
        if getattr(out, "logits", None) is not None:
            out.logits = tuple(step.cpu() for step in out.logits)
        return out

    def __getattr__(self, name: str) -> Any:  # config, parameters(), ...
        return getattr(self.lm, name)


class TransformersCudaEngine(TransformersEngine):
    """transformers on a CUDA device (f32, f16, bf16). Option ``device`` (default ``cuda``)."""

    name = "transformers-cuda"
    option_defaults = {**TransformersEngine.option_defaults, "device": "cuda"}

    def load(self, model, config) -> None:
        import torch

        if not torch.cuda.is_available():
            raise Unsupported(f"no CUDA device: torch {torch.__version__} reports torch.cuda.is_available() False")
        super().load(model, config)
        self.lm = _OnDevice(self.lm.to(self.option("device")), self.option("device"))

    def fingerprint(self) -> dict[str, Any]:
        fp = super().fingerprint()
        torch = self.torch
        fp.update({"device": self.option("device"), "gpu": torch.cuda.get_device_name(self.option("device")),
                   "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()})
        return fp


class OnnxRuntimeCudaEngine(OnnxRuntimeEngine):
    """ONNX Runtime with the CUDA execution provider (``onnxruntime-gpu``), CPU as ORT's fallback
    for nodes CUDA does not take. A session that silently fell back to CPU is refused."""

    name = "onnxruntime-cuda"
    packages = ("onnxruntime-gpu", "onnxruntime", "onnx", "tokenizers", "numpy")

    def load(self, model, config) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        if CUDA_EP not in available:
            raise Unsupported(f"onnxruntime {ort.__version__} has no {CUDA_EP} (available: {', '.join(available)}); "
                              "install onnxruntime-gpu on a CUDA machine")
        super().load(model, config)
        path = self.session._model_path  # the CPU session built by the base adapter, rebuilt on CUDA
        options = self.session.get_session_options()
        self.session = ort.InferenceSession(path, options, providers=[CUDA_EP, "CPUExecutionProvider"])
        if self.session.get_providers()[0] != CUDA_EP:
            raise Unsupported(f"ONNX Runtime fell back to {self.session.get_providers()} (CUDA libraries not loadable)")


def create_transformers_cuda() -> TransformersCudaEngine:
    return TransformersCudaEngine()


def create_onnxruntime_cuda() -> OnnxRuntimeCudaEngine:
    return OnnxRuntimeCudaEngine()
