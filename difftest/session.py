"""One engine configuration during a run: its client, its status and everything it returned.

Every call goes through :meth:`Session.call`, which records the result under a key, or a
:class:`Missing` with the reason (capability not declared, ``Unsupported``, engine exception,
crash, hang), and turns worker failures into :class:`Failure` entries the runner reports as
Crash and System Hang findings. After a crash or hang the session is dead and later calls are
recorded as missing, so the run goes on with the other engines.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Hashable

import numpy as np

from enginebugs.difftest.protocol import EngineConfig, PromptScores, Unsupported, single_method
from enginebugs.difftest.worker import EngineError, WorkerCrashed, WorkerTimeout

#: The capability each engine method needs.
#: (A batch method needs what its single method needs: see protocol.single_method.)
CAPABILITY_OF = {"tokenize": "tokenize", "detokenize": "detokenize",
                 "stream_detokenize": "stream_detokenize", "token_offsets": "offsets",
                 "prompt_logprobs": "prompt_logprobs",
                 "generate": "generate", "generate_batch": "batch_generate", "reset_prefix_cache": "prefix_reuse",
                 "sample_next": "sampling"}
STDERR_TAIL = 2000


@dataclass
class Missing:
    """Why a recorded value is not there; oracles needing it are skipped with this reason."""

    reason: str

    def __bool__(self) -> bool:
        return False


@dataclass
class Failure:
    """A crash, hang or engine exception of one configuration (becomes a Crash / System Hang finding)."""

    kind: str  # "crash" | "hang" | "error"
    label: str
    engine: str
    method: str
    message: str
    stderr_tail: str = ""
    returncode: int | None = None
    count: int = 1
    #: The recording keys of the failing calls (the first few): where in a sequence it happened.
    keys: list[str] = field(default_factory=list)


@dataclass
class Session:
    config: EngineConfig
    client: Any
    status: str = "pending"  # pending | ok | crashed | hung | load-failed | unsupported
    skip_reason: str = ""
    capabilities: frozenset[str] = frozenset()
    #: knob -> the capability it exercises, as the engine declared it (else protocol.KNOB_CAPABILITIES)
    knob_capabilities: dict[str, str] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    records: dict[Hashable, Any] = field(default_factory=dict)
    arrays: dict[Hashable, np.ndarray] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    engine_time_s: float = 0.0
    load_time_s: float = 0.0
    calls: int = 0
    call_log: list[tuple[str, dict[str, Any]]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def label(self) -> str:
        return self.config.label

    @property
    def alive(self) -> bool:
        return self.status == "ok"

    def get(self, key: Hashable) -> Any:
        """The recorded value, or a :class:`Missing` (falsy) with the reason."""
        if key in self.records:
            return self.records[key]
        return Missing(self.skip_reason or f"{self.label}: not recorded ({self.status})")

    @property
    def shards(self) -> int:
        """How many replicas of this configuration can take a slice of the prompts at once."""
        return getattr(self.client, "shards", 1)

    def shard(self, index: int) -> Any:
        """Route this thread's calls to replica ``index`` (a no-op for a single worker)."""
        route = getattr(self.client, "shard", None)
        return route(index) if route else contextlib.nullcontext()

    # -- start -----------------------------------------------------------------------------------
    def start(self) -> None:
        t0 = time.perf_counter()
        try:
            info = self.client.start()
        except Unsupported as exc:
            self.status, self.skip_reason = "unsupported", f"{self.label} cannot be loaded: {exc}"
            return
        except (WorkerCrashed, WorkerTimeout, EngineError, OSError) as exc:
            self._fail(exc, "load")
            return
        finally:
            self.load_time_s = time.perf_counter() - t0
        self.capabilities = frozenset(info.get("capabilities", ()))
        self.knob_capabilities = dict(info.get("knob_capabilities") or {})
        self.fingerprint = info.get("fingerprint", {})
        self.status = "ok"

    # -- calls -----------------------------------------------------------------------------------
    def call(self, key: Hashable, method: str, **kwargs: Any) -> Any:
        """Run and record one engine call; returns the value or a :class:`Missing`."""
        value = self._invoke(method, kwargs, contain_errors=False, key=key)
        if isinstance(value, Missing):
            return self._missing(key, value.reason)
        self.records[key] = value
        if isinstance(value, PromptScores) and getattr(value, "full_logprobs", None) is not None:
            self.arrays[key] = value.__dict__.pop("full_logprobs")  # arrived in memory (Ray, binary frames)
        elif isinstance(value, PromptScores) and value.full_logprobs_file:
            try:
                self.arrays[key] = np.load(value.full_logprobs_file)
            except OSError:
                pass
        return value

    def try_call(self, method: str, **kwargs: Any) -> Any:
        """Run one engine call without recording it; an engine exception or ``Unsupported`` gives a
        :class:`Missing` and no failure (the caller falls back to smaller calls that record their
        own), while a crash or hang still ends the session as in :meth:`call`."""
        return self._invoke(method, kwargs, contain_errors=True)

    def _invoke(self, method: str, kwargs: dict[str, Any], *, contain_errors: bool, key: Hashable = None) -> Any:
        if not self.alive:
            return Missing(self.skip_reason or f"{self.label} is {self.status}")
        need = CAPABILITY_OF[single_method(method)]
        if need not in self.capabilities:
            return Missing(f"{self.label} does not declare capability {need!r}")
        if self.call_log is not None:
            self.call_log.append((method, kwargs))
        t0 = time.perf_counter()
        try:
            return self.client.call(method, **kwargs)
        except Unsupported as exc:
            return Missing(f"{self.label}: {method} unsupported: {exc}")
        except (WorkerCrashed, WorkerTimeout, EngineError) as exc:
            if not (contain_errors and isinstance(exc, EngineError)):
                self._fail(exc, method, key)
            return Missing(f"{self.label}: {method} failed: {getattr(exc, 'message', exc)}")
        finally:
            with self._lock:  # replicas of one configuration record from several threads
                self.engine_time_s += time.perf_counter() - t0
                self.calls += 1

    def skip(self, key: Hashable, reason: str) -> Missing:
        """Record that ``key`` was not asked for, and why."""
        return self._missing(key, reason)

    def _missing(self, key: Hashable, reason: str) -> Missing:
        missing = Missing(reason)
        self.records[key] = missing
        return missing

    def _fail(self, exc: BaseException, method: str, key: Hashable = None) -> None:
        kind = "hang" if isinstance(exc, WorkerTimeout) else "crash" if isinstance(exc, WorkerCrashed) else "error"
        if method == "load":
            self.status = "load-failed"
        elif kind != "error":
            self.status = "hung" if kind == "hang" else "crashed"
        message = getattr(exc, "message", None) or str(exc)
        if isinstance(exc, EngineError):
            message = f"{exc.type}: {exc.message}"
        tail = getattr(exc, "stderr_tail", "") or getattr(exc, "traceback", "") or ""
        where = [str(key[0] if isinstance(key, tuple) else key)] if key is not None else []
        for f in self.failures:
            if (f.kind, f.method) == (kind, method):
                f.count += 1
                f.keys.extend(k for k in where if k not in f.keys)
                return
        self.failures.append(Failure(kind, self.label, self.config.engine, method, message, tail[-STDERR_TAIL:],
                                     getattr(exc, "returncode", None), keys=where))

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a dead worker must not stop the run
            pass
