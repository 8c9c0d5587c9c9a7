"""Shared fixtures. Engines/models (C1): the tiny model, built once per session, and a cache of
started engine workers on it (one subprocess per engine configuration, closed at session end)."""
from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import pytest


def engine_available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The tiny Llama in every format (HF, GGUF f32/f16/q8_0, ONNX), built into a per-session cache
    (or ``$ENGINEBUGS_TEST_CACHE`` to reuse one across sessions)."""
    pytest.importorskip("torch")
    from enginebugs.difftest.models import get_model

    cache = os.environ.get("ENGINEBUGS_TEST_CACHE") or tmp_path_factory.mktemp("model-cache")
    return get_model("tiny", cache_dir=Path(cache))


@pytest.fixture(scope="session")
def tiny_worker(tiny_model):
    """``tiny_worker(engine, dtype="f32", **options)`` -> a started WorkerClient on the tiny model,
    shared by every test asking for the same configuration; skips if the engine is not installed."""
    from enginebugs.difftest.protocol import EngineConfig
    from enginebugs.difftest.worker import WorkerClient

    modules = {"transformers": "torch", "llamacpp": "llama_cpp", "onnxruntime": "onnxruntime"}
    started: dict[str, WorkerClient] = {}

    def get(engine: str, dtype: str = "f32", **options) -> WorkerClient:
        if engine in modules and not engine_available(modules[engine]):
            pytest.skip(f"{modules[engine]} is not installed")
        config = EngineConfig(engine, dtype, options)
        if config.label not in started:
            client = WorkerClient(engine, tiny_model, config, timeout_s=120)
            client.start()
            started[config.label] = client
        return started[config.label]

    yield get
    closers = [threading.Thread(target=client.close) for client in started.values()]
    for t in closers:
        t.start()
    for t in closers:
        t.join()
