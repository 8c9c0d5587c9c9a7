"""GPU adapters: transformers on CUDA, ONNX Runtime's CUDA provider, vLLM's official wheel.

On a machine without a GPU: each adapter refuses to load with the reason (a skip, never a
failure), the device proxy of ``transformers-cuda`` is checked on the CPU against the plain
adapter, and a CUDA session that silently fell back to CPU is refused. The ``gpu``-marked tests
compare each GPU configuration with transformers f32 on the CPU and run only where CUDA exists.
"""
from __future__ import annotations

import importlib.util

import pytest

from enginebugs.difftest.engines import cuda
from enginebugs.difftest.protocol import EngineConfig, Unsupported
from enginebugs.difftest.tolerances import load_profile

PROFILE = load_profile("default")
TEXT = "The cache stores the long prompt before noon, because the scheduler"


def cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.engines
def test_without_a_gpu_the_cuda_adapters_are_unsupported_with_the_reason(tiny_model):
    if cuda_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(Unsupported, match="no CUDA device"):
        cuda.TransformersCudaEngine().load(tiny_model, EngineConfig("transformers-cuda", "f16"))
    pytest.importorskip("onnxruntime")
    with pytest.raises(Unsupported, match="CUDAExecutionProvider"):
        cuda.OnnxRuntimeCudaEngine().load(tiny_model, EngineConfig("onnxruntime-cuda", "f32"))


@pytest.mark.engines
def test_device_proxy_gives_the_plain_adapters_results(tiny_model, monkeypatch):
    """The proxy path run on the CPU ("device" cpu) must reproduce transformers exactly."""
    torch = pytest.importorskip("torch")
    from enginebugs.difftest.engines.transformers_engine import TransformersEngine

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    proxied = cuda.TransformersCudaEngine()
    proxied.load(tiny_model, EngineConfig("transformers-cuda", "f32", {"device": "cpu"}))
    plain = TransformersEngine()
    plain.load(tiny_model, EngineConfig("transformers", "f32"))
    assert isinstance(proxied.lm, cuda._OnDevice)
    ids = plain.tokenize(TEXT)
    assert proxied.prompt_logprobs(ids, 5) == plain.prompt_logprobs(ids, 5)
    assert proxied.generate_batch([ids, ids[:6]], 6, 5) == plain.generate_batch([ids, ids[:6]], 6, 5)


@pytest.mark.engines
def test_a_cuda_session_that_fell_back_to_cpu_is_refused(tiny_model, monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    if cuda.CUDA_EP in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    monkeypatch.setattr(ort, "get_available_providers", lambda: [cuda.CUDA_EP, "CPUExecutionProvider"])
    with pytest.raises(Unsupported, match="fell back"):
        cuda.OnnxRuntimeCudaEngine().load(tiny_model, EngineConfig("onnxruntime-cuda", "f32"))


# -- on a GPU machine ------------------------------------------------------------------------------
GPU_CONFIGS = [EngineConfig("transformers-cuda", "f32"), EngineConfig("transformers-cuda", "f16"),
               EngineConfig("transformers-cuda", "bf16"), EngineConfig("onnxruntime-cuda", "f32"),
               EngineConfig("vllm", "f16", {"gpu_memory_utilization": 0.3})]


@pytest.mark.gpu
@pytest.mark.engines
@pytest.mark.parametrize("config", GPU_CONFIGS, ids=lambda c: c.label)
def test_gpu_configuration_agrees_with_transformers_f32_on_cpu(config, tiny_model, tiny_worker):
    if not cuda_available():
        pytest.skip("no CUDA device: GPU verification runs on a GPU machine")
    from enginebugs.difftest import vllm_cases as cases
    from enginebugs.difftest.engines.registry import worker_python
    from enginebugs.difftest.worker import WorkerClient

    hf = tiny_worker("transformers")
    ids = [hf.tokenize(TEXT)]
    with WorkerClient(config.engine, tiny_model, config, python=worker_python(config.engine)[0], timeout_s=300) as gpu:
        verdicts = cases.tiered(cases.record(hf, ids, 12), cases.record(gpu, ids, 12), ids,
                                PROFILE.for_pair(EngineConfig("transformers", "f32"), config))
    assert [v.message for v in verdicts if not v.ok] == []
