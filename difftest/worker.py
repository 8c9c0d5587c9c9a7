"""Each engine runs in its own worker subprocess; the runner talks to it through :class:`WorkerClient`.

Transport: one JSON object per line. Requests ``{"id", "method", "params"}`` go to the worker's
stdin; responses ``{"id", "ok", "result" | "error"}`` come back on a private copy of its stdout
(the worker points file descriptor 1 at stderr, so prints from Python or C libraries cannot
corrupt the protocol). Arrays (full-vocabulary log-probabilities) travel as binary frames, not
JSON: a header line ``#BIN <nbytes>`` and the raw bytes, before the response that lists their
shapes under ``"arrays"``; the client hands them over as ``PromptScores.full_logprobs``. The worker may run another interpreter (``python=``), e.g. an engine's own
virtual environment: nothing but JSON crosses the pipe.

Failures the client raises: :class:`~enginebugs.difftest.protocol.Unsupported` (the engine declined),
:class:`EngineError` (a Python exception in the engine, with its traceback),
:class:`WorkerCrashed` (the process died: abort, segfault, OOM kill) and :class:`WorkerTimeout`
(a call exceeded its time; the worker is killed). The last two carry the tail of stderr.

Run as ``python -m enginebugs.difftest.worker``.
"""
from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any, Callable

from enginebugs.difftest.paths import source_checkout
from enginebugs.difftest.protocol import (BATCHED, EngineConfig, Generation, ModelSpec, PromptScores, Unsupported,
                                          call_batched, own_batch)


def _each(decode: Callable[[Any], Any]) -> Callable[[list], list]:
    return lambda items: [decode(item) for item in items]


#: Engine methods callable through the worker, and how the client rebuilds their results.
DECODERS: dict[str, Callable[[Any], Any]] = {
    "tokenize": list,
    "detokenize": str,
    "stream_detokenize": list,
    "token_offsets": lambda spans: [list(span) for span in spans],
    "prompt_logprobs": PromptScores.from_dict,
    "generate": Generation.from_dict,
    "generate_batch": _each(Generation.from_dict),
    # Optional (engines declaring "prefix_reuse" may offer it): drop cached prefixes, next call is cold.
    "reset_prefix_cache": bool,
    # Optional (engines declaring "sampling"): n next-token draws under sampler settings.
    "sample_next": list,
}
# The protocol's batch methods (protocol.BATCHED) rebuild each item as their single method does.
DECODERS.update({name: _each(DECODERS[spec.single]) for name, spec in BATCHED.items()})

#: Argument names of each method, for positional calls on a client (``client.tokenize("hi")``).
POSITIONAL = {"tokenize": ("text", "add_special", "parse_special"), "detokenize": ("ids",),
              "stream_detokenize": ("ids",), "token_offsets": ("text", "add_special"),
              "prompt_logprobs": ("ids", "top_k", "full"),
              "generate": ("ids", "max_new_tokens", "top_k", "seed"),
              "generate_batch": ("batch", "max_new_tokens", "top_k"), "reset_prefix_cache": (),
              "sample_next": ("ids", "n", "settings", "seed")}
POSITIONAL.update({name: (spec.batch_arg, *POSITIONAL[spec.single][1:]) for name, spec in BATCHED.items()})

STDERR_TAIL_LINES = 200
STDERR_TAIL_CHARS = 6000


class WorkerError(RuntimeError):
    """Base of the errors a worker call can raise (besides Unsupported)."""


class EngineError(WorkerError):
    """A Python exception raised inside the engine; ``type``, ``message`` and ``traceback`` describe it."""

    def __init__(self, type: str, message: str, traceback: str = "", stderr_tail: str = "") -> None:
        super().__init__(f"{type}: {message}")
        self.type, self.message, self.traceback, self.stderr_tail = type, message, traceback, stderr_tail


class WorkerCrashed(WorkerError):
    """The worker process died; ``returncode`` is negative for a signal (e.g. -6 abort, -11 segfault)."""

    def __init__(self, message: str, stderr_tail: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.message, self.stderr_tail, self.returncode = message, stderr_tail, returncode


class WorkerTimeout(WorkerError):
    """A call took longer than its timeout; the worker was killed."""

    def __init__(self, message: str, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.message, self.stderr_tail = message, stderr_tail


# --------------------------------------------------------------------------------------- encoding
def to_jsonable(value: Any) -> Any:
    """Dataclasses (and lists/tuples/dicts of them) to plain JSON types."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars
        return value.tolist()
    return value


def json_default(value: Any) -> Any:
    """``json.dumps``' hook for what is not plain JSON (dataclasses, numpy, sets): only those pay for
    a conversion, so a large plain result (``tokenize_batch``'s lists of ints) is written as is. A
    dataclass becomes a shallow dict (its nested dataclasses come back here): no ``asdict`` deep
    copy, which cost more than the engine call for a tiny model's prompt scores."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    converted = to_jsonable(value)
    if converted is value:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
    return converted


def decode_result(method: str, data: Any) -> Any:
    return DECODERS[method](data) if method in DECODERS else data


def inline_arrays(value: Any) -> Any:
    """A full-vocabulary ``.npy`` the engine wrote becomes the scores' in-memory ``full_logprobs``
    (read once and removed: what crosses to the client is the array, as binary frames or a Ray object)."""
    if isinstance(value, list):
        return [inline_arrays(v) for v in value]
    if isinstance(value, PromptScores) and value.full_logprobs_file:
        import numpy as np

        path, value.full_logprobs_file = value.full_logprobs_file, None
        value.full_logprobs = np.load(path)
        os.unlink(path)
    return value


def full_logprobs(scores: PromptScores) -> Any:
    """The full-vocabulary log-probabilities of ``scores``: the array that came in memory (from a
    worker or an actor), else the ``.npy`` an engine called in-process wrote."""
    array = getattr(scores, "full_logprobs", None)
    if array is None and scores.full_logprobs_file:
        import numpy as np

        array = np.load(scores.full_logprobs_file)
    return array


def _array_items(result: Any) -> list[tuple[int | None, Any]]:
    """(position in a list result or None, PromptScores) for every result item carrying an array."""
    items = list(enumerate(result)) if isinstance(result, list) else [(None, result)]
    return [(i, v) for i, v in items if getattr(v, "full_logprobs", None) is not None]


def bound_method(engine: Any, method: str) -> Callable[..., Any] | None:
    """``engine``'s ``method``, with the protocol's fallback for a batch method the engine lacks
    (one single call per item); None where the engine lacks an optional method."""
    if method in BATCHED and own_batch(engine, method) is None:
        batch_arg = BATCHED[method].batch_arg
        return lambda **kwargs: call_batched(engine, method, kwargs.pop(batch_arg), **kwargs)
    return getattr(engine, method, None)


# ------------------------------------------------------------------------------------------ server
class _Server:
    """The worker side: holds one loaded engine and answers requests until ``close`` or EOF."""

    def __init__(self, out) -> None:
        self.out = out
        self.engine: Any = None

    def handle(self, method: str, params: dict[str, Any]) -> Any:
        if method == "load":
            return self._load(**params)
        if method == "ping":
            return "pong"
        if self.engine is None:
            raise RuntimeError("no engine loaded; send 'load' first")
        if method not in DECODERS:
            raise ValueError(f"unknown method {method!r}; known: {', '.join(DECODERS)}")
        fn = bound_method(self.engine, method)
        if fn is None:  # an optional method this engine does not offer
            raise Unsupported(f"{self.engine.name} has no {method}")
        return inline_arrays(fn(**params))  # made JSON by reply(), see json_default; arrays as frames

    def _load(self, engine: str, model: dict, config: dict, plugins: list[str] = (),
              artifacts_dir: str | None = None) -> dict[str, Any]:
        from enginebugs.difftest.engines.registry import create_engine, register_plugin

        for ref in plugins:
            register_plugin(ref)
        self.engine = create_engine(engine)
        if hasattr(self.engine, "set_artifacts_dir"):
            self.engine.set_artifacts_dir(artifacts_dir)
        self.engine.load(ModelSpec.from_dict(model), EngineConfig.from_dict(config))
        return {"name": self.engine.name, "capabilities": sorted(self.engine.capabilities),
                "knob_capabilities": dict(getattr(self.engine, "knob_capabilities", None) or {}),
                "fingerprint": to_jsonable(self.engine.fingerprint()), "pid": os.getpid()}

    def reply(self, payload: dict[str, Any]) -> None:
        frames = []
        for index, scores in _array_items(payload.get("result")):
            array = scores.__dict__.pop("full_logprobs")
            frames.append(array if array.flags.c_contiguous else array.copy())
            payload.setdefault("arrays", []).append({"item": index, "shape": list(array.shape),
                                                     "dtype": array.dtype.str})
        for array in frames:
            self.out.write(b"#BIN %d\n" % array.nbytes)
            self.out.write(memoryview(array).cast("B"))
        self.out.write(json.dumps(payload, default=json_default).encode() + b"\n")
        self.out.flush()

    def serve(self, lines) -> None:
        for line in lines:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except json.JSONDecodeError as exc:
                self.reply({"id": None, "ok": False, "error": {"kind": "protocol", "type": "JSONDecodeError",
                                                                "message": str(exc), "traceback": ""}})
                continue
            rid, method = request.get("id"), request.get("method", "")
            if method == "close":
                self.reply({"id": rid, "ok": True, "result": None})
                break
            try:
                result = self.handle(method, request.get("params") or {})
                self.reply({"id": rid, "ok": True, "result": result})
            except Unsupported as exc:
                self.reply({"id": rid, "ok": False, "error": {"kind": "unsupported", "type": "Unsupported",
                                                               "message": str(exc), "traceback": ""}})
            except Exception as exc:  # noqa: BLE001 - every engine error goes back to the client
                self.reply({"id": rid, "ok": False, "error": {
                    "kind": "engine", "type": type(exc).__name__, "message": str(exc),
                    "traceback": traceback.format_exc()}})
        if self.engine is not None:
            try:
                self.engine.close()
            except Exception:  # noqa: BLE001 - closing must not mask the shutdown
                traceback.print_exc()


def main() -> None:
    import faulthandler

    faulthandler.enable(sys.stderr)  # a segfault leaves a Python traceback in the stderr tail
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # C-level and Python prints go to stderr
    sys.stdout = sys.stderr
    _Server(protocol_out).serve(sys.stdin)


# ------------------------------------------------------------------------------------------ client
class WorkerClient:
    """Spawns ``python -m enginebugs.difftest.worker`` for one engine configuration and calls it.

    ``start()`` loads the model once and returns ``{"capabilities", "fingerprint", ...}``;
    ``call(method, **kwargs)`` runs one engine method; the method names are also available as
    attributes (``client.tokenize("hi")``), so a client stands in for an engine. ``artifacts_dir``
    receives full-logprob ``.npy`` files; when not given, a temporary directory removed by
    ``close()`` is used (read such files before closing)."""

    def __init__(self, engine: str, model: ModelSpec, config: EngineConfig, *, python: str | None = None,
                 plugins: list[str] | tuple[str, ...] = (), timeout_s: float = 300, env: dict | None = None,
                 load_timeout_s: float | None = None, artifacts_dir: str | Path | None = None) -> None:
        self.engine, self.model, self.config = engine, model, config
        self.python = python or sys.executable
        self.plugins = list(plugins)
        self.timeout_s = timeout_s
        self.load_timeout_s = load_timeout_s or timeout_s
        self.extra_env = dict(env or {})
        self._own_artifacts = artifacts_dir is None
        self.artifacts_dir = Path(artifacts_dir) if artifacts_dir else None
        self.capabilities: frozenset[str] = frozenset()
        self.fingerprint: dict[str, Any] = {}
        self.proc: subprocess.Popen | None = None
        self._responses: queue.Queue = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._threads: list[threading.Thread] = []
        self._next_id = 0
        self._dead: WorkerError | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({k: str(v) for k, v in self.extra_env.items()})
        # From a checkout, the worker (perhaps another environment's interpreter) must import this
        # checkout and its test plugins; an installed wheel is found by the interpreter itself.
        checkout = source_checkout()
        paths = ([str(checkout)] if checkout else []) + [p for p in (self.extra_env.get("PYTHONPATH"), os.environ.get("PYTHONPATH")) if p]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(os.pathsep.join(paths).split(os.pathsep)))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self) -> dict[str, Any]:
        if self.proc is not None:
            raise RuntimeError("worker already started")
        if self.artifacts_dir is None:
            self.artifacts_dir = Path(tempfile.mkdtemp(prefix="enginebugs-worker-"))
        try:
            self.proc = subprocess.Popen(
                [self.python, "-m", "enginebugs.difftest.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=self._environment(), start_new_session=True)
            self._threads = [threading.Thread(target=self._pump_stdout, daemon=True),
                             threading.Thread(target=self._pump_stderr, daemon=True)]
            for t in self._threads:
                t.start()
            info = self._request("load", {"engine": self.engine, "model": self.model.to_dict(),
                                          "config": self.config.to_dict(), "plugins": self.plugins,
                                          "artifacts_dir": str(self.artifacts_dir)}, self.load_timeout_s).result
        except BaseException:
            self.close()
            raise
        self.capabilities = frozenset(info["capabilities"])
        self.fingerprint = info["fingerprint"]
        return info

    def close(self) -> None:
        """Ask the worker to exit (kill it if it does not within a few seconds); idempotent."""
        proc = self.proc
        if proc is not None and proc.poll() is None and self._dead is None:
            try:
                self._request("close", {}, 10)
                proc.wait(timeout=10)
            except (WorkerError, OSError, subprocess.TimeoutExpired):
                pass
        if proc is not None and proc.poll() is None:
            self._kill()
        for stream in (proc.stdin, proc.stdout, proc.stderr) if proc else ():
            try:
                stream.close()
            except OSError:
                pass
        if self._own_artifacts and self.artifacts_dir is not None:
            shutil.rmtree(self.artifacts_dir, ignore_errors=True)
        if self._dead is None:
            self._dead = WorkerCrashed(f"worker for {self.config.label} is closed", "", None)

    def __enter__(self) -> "WorkerClient":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self._dead is None

    @property
    def stderr_tail(self) -> str:
        return "".join(self._stderr)[-STDERR_TAIL_CHARS:]

    # -- calls -----------------------------------------------------------------------------------
    def call(self, method: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """Run ``method`` on the engine with ``kwargs`` and return its (rebuilt) result."""
        if method not in DECODERS:
            raise ValueError(f"unknown engine method {method!r}; known: {', '.join(DECODERS)}")
        answer = self._request(method, to_jsonable(kwargs), timeout or self.timeout_s)
        result = decode_result(method, answer.result)
        answer.attach(result)
        return result

    def __getattr__(self, name: str) -> Any:
        if name in DECODERS:
            return lambda *args, **kwargs: self._positional_call(name, args, kwargs)
        raise AttributeError(name)

    def _positional_call(self, method: str, args: tuple, kwargs: dict) -> Any:
        kwargs.update(zip(POSITIONAL[method], args))
        return self.call(method, **kwargs)

    def _request(self, method: str, params: dict[str, Any], timeout: float) -> Any:
        if self._dead is not None:
            raise self._dead
        if self.proc is None:
            raise RuntimeError("start() the worker first")
        self._next_id += 1
        rid = self._next_id
        try:
            self.proc.stdin.write((json.dumps({"id": rid, "method": method, "params": params}) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._crashed(method) from None
        deadline, frames = time.monotonic() + timeout, []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(method, timeout) if self.proc.poll() is None else self._crashed(method)
            try:
                line = self._responses.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is _EOF:
                raise self._crashed(method)
            if isinstance(line, bytearray):  # a binary frame of the coming response
                frames.append(line)
                continue
            try:
                response = json.loads(line)
            except json.JSONDecodeError:
                self._stderr.append(f"[non-protocol stdout] {line}")
                continue
            if response.get("id") != rid:
                frames = []
                continue
            if response.get("ok"):
                return _Framed(response.get("result"), response.get("arrays", []), frames)
            err = response["error"]
            if err["kind"] == "unsupported":
                raise Unsupported(err["message"])
            raise EngineError(err["type"], err["message"], err.get("traceback", ""), self.stderr_tail)

    # -- failure handling ------------------------------------------------------------------------
    def _kill(self) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def _drain_stderr(self) -> None:
        for t in self._threads[1:]:
            t.join(timeout=2)

    def _crashed(self, method: str) -> WorkerCrashed:
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._kill()
            rc = self.proc.returncode
        self._drain_stderr()
        how = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exited with status {rc}"
        self._dead = WorkerCrashed(f"worker for {self.config.label} {how} during {method!r}", self.stderr_tail, rc)
        return self._dead

    def _timed_out(self, method: str, timeout: float) -> WorkerTimeout:
        self._kill()
        self._drain_stderr()
        self._dead = WorkerTimeout(f"worker for {self.config.label}: {method!r} did not finish within {timeout:g} s",
                                   self.stderr_tail)
        return self._dead

    def _pump_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stream = self.proc.stdout
        for raw in iter(stream.readline, b""):
            if raw.startswith(b"#BIN "):
                size = int(raw[5:])
                frame = bytearray(size)  # writable: the array built on it is the caller's to keep
                if stream.readinto(frame) < size:
                    break
                self._responses.put(frame)
            else:
                self._responses.put(raw.decode("utf-8", errors="replace"))
        self._responses.put(_EOF)

    def _pump_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            self._stderr.append(raw.decode("utf-8", errors="replace"))


_EOF = object()


class _Framed:
    """A response's result and the binary frames that came with it."""

    def __init__(self, result: Any, arrays: list[dict[str, Any]], frames: list[bytes]) -> None:
        self.result, self.arrays, self.frames = result, arrays, frames

    def attach(self, decoded: Any) -> None:
        """Give each decoded PromptScores its array (``full_logprobs``)."""
        if not self.arrays:
            return
        import numpy as np

        for spec, frame in zip(self.arrays, self.frames):
            target = decoded if spec["item"] is None else decoded[spec["item"]]
            target.full_logprobs = np.frombuffer(frame, dtype=np.dtype(spec["dtype"])).reshape(spec["shape"])


if __name__ == "__main__":
    main()
