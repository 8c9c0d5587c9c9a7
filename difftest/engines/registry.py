"""Engine registry: entry points in group ``enginebugs.engines`` plus ``--engine-plugin module:factory``.

A factory is any callable returning an :class:`~enginebugs.difftest.protocol.Engine` (cheap: heavy imports
happen in ``load``). The built-in engines are registered through the same entry-point group; the
fallback table below only matters when ``difftest`` is imported from a checkout that is not
pip-installed (e.g. a worker in another virtual environment with the repository on PYTHONPATH).
"""
from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any, Callable

GROUP = "enginebugs.engines"
BUILTIN = {
    "transformers": "enginebugs.difftest.engines.transformers_engine:create",
    "llamacpp": "enginebugs.difftest.engines.llamacpp_engine:create",
    "onnxruntime": "enginebugs.difftest.engines.onnxruntime_engine:create",
    "vllm": "enginebugs.difftest.engines.vllm_engine:create",
    "tokenizers": "enginebugs.difftest.engines.tokenizers_engine:create",
    "transformers-cuda": "enginebugs.difftest.engines.cuda:create_transformers_cuda",
    "onnxruntime-cuda": "enginebugs.difftest.engines.cuda:create_onnxruntime_cuda",
}
_plugins: dict[str, str] = {}


class PluginError(ValueError):
    """A plugin reference that cannot be loaded or does not produce an engine."""


class UnknownEngine(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def load_factory(ref: str) -> Callable[[], Any]:
    """Import ``module:factory`` (``factory`` may be dotted) and return the callable."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"engine plugin {ref!r} must look like 'package.module:factory'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"engine plugin {ref!r}: cannot import {module_name!r} ({exc})") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"engine plugin {ref!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise PluginError(f"engine plugin {ref!r}: {attr!r} is not callable")
    return obj


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in metadata.entry_points(group=GROUP)}


def available_engines() -> dict[str, str]:
    """Engine name -> factory reference: built-ins, installed entry points, then registered plugins."""
    return {**BUILTIN, **_entry_points(), **_plugins}


def register_plugin(ref: str) -> str:
    """Register ``module:factory`` (as given to ``--engine-plugin``) and return the engine's name."""
    engine = load_factory(ref)()
    name = getattr(engine, "name", None)
    if not isinstance(name, str) or not name:
        raise PluginError(f"engine plugin {ref!r}: the factory's engine has no 'name'")
    missing = [m for m in ("load", "fingerprint", "tokenize", "prompt_logprobs", "generate") if not hasattr(engine, m)]
    if missing or not hasattr(engine, "capabilities"):
        raise PluginError(f"engine plugin {ref!r}: engine {name!r} lacks {', '.join(missing) or 'capabilities'}")
    _plugins[name] = ref
    return name


def worker_python(name: str) -> tuple[str | None, str]:
    """The interpreter an engine's worker should run under, from the module-level
    ``worker_python()`` of the engine's module (vLLM: its own virtual environment), and why there
    is none; ``(None, "")`` means the current interpreter."""
    ref = available_engines().get(name)
    if ref is None:
        return None, ""
    try:
        module = importlib.import_module(ref.partition(":")[0])
    except ImportError:
        return None, ""
    finder = getattr(module, "worker_python", None)
    return finder() if callable(finder) else (None, "")


def create_engine(name: str) -> Any:
    """A fresh, unloaded engine instance of the registered engine ``name``."""
    engines = available_engines()
    if name not in engines:
        raise UnknownEngine(f"unknown engine {name!r}; registered: {', '.join(sorted(engines))}")
    return load_factory(engines[name])()
