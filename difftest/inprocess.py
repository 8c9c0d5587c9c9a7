"""An engine object behind :class:`~enginebugs.difftest.worker.WorkerClient`'s interface, in this process.

For tests, the fake engine and benchmarks of bare engine calls: ``start``/``call``/``close`` behave
like the worker client's, and engine exceptions come back as :class:`~enginebugs.difftest.worker.EngineError`
(a crash or hang in-process cannot be contained; that is what the worker is for).
"""
from __future__ import annotations

import traceback
from typing import Any

from enginebugs.difftest.protocol import EngineConfig, ModelSpec, Unsupported
from enginebugs.difftest.worker import DECODERS, EngineError, bound_method


class InProcessClient:
    def __init__(self, engine: Any, model: ModelSpec, config: EngineConfig) -> None:
        self.engine_obj, self.model, self.config = engine, model, config
        self.engine = config.engine
        self.capabilities: frozenset[str] = frozenset()
        self.fingerprint: dict[str, Any] = {}
        self.stderr_tail = ""

    def _guard(self, fn, *args, **kwargs) -> Any:
        try:
            return fn(*args, **kwargs)
        except Unsupported:
            raise
        except Exception as exc:  # noqa: BLE001 - mirrors the worker's EngineError
            raise EngineError(type(exc).__name__, str(exc), traceback.format_exc()) from exc

    def start(self) -> dict[str, Any]:
        self._guard(self.engine_obj.load, self.model, self.config)
        self.capabilities = frozenset(self.engine_obj.capabilities)
        self.fingerprint = self._guard(self.engine_obj.fingerprint)
        return {"name": self.engine_obj.name, "capabilities": sorted(self.capabilities),
                "knob_capabilities": dict(getattr(self.engine_obj, "knob_capabilities", None) or {}),
                "fingerprint": self.fingerprint, "pid": None}

    def call(self, method: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        if method not in DECODERS:
            raise ValueError(f"unknown engine method {method!r}; known: {', '.join(DECODERS)}")
        fn = bound_method(self.engine_obj, method)
        if fn is None:
            raise Unsupported(f"{self.engine_obj.name} has no {method}")
        return self._guard(fn, **kwargs)

    def close(self) -> None:
        close = getattr(self.engine_obj, "close", None)
        if close:
            close()

    def __enter__(self) -> "InProcessClient":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
