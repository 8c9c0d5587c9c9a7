"""OpenAI-compatible servers the tester starts (llama.cpp, transformers, vLLM) or finds running.

Each server starts on 127.0.0.1 on a free port with pinned settings (documented on its class and
recorded in its fingerprint), is waited for until ``GET /v1/models`` answers, and is stopped by its
process group at the end of the run, on Ctrl-C (``KeyboardInterrupt`` unwinds through
:func:`started`), on SIGTERM (handler installed while servers run) and when the tester itself dies
(``PR_SET_PDEATHSIG``: the kernel sends the server SIGTERM).

Pinned per-request fields (``request_defaults``) are added to every request body sent to that
server, so "the same request" means the same decoding: llama.cpp's server applies
``repeat_penalty`` 1.1 even at temperature 0 unless told otherwise.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

#: Every server process this tester started and has not stopped yet (pid -> command).
LIVE: dict[int, list[str]] = {}


class ServerError(RuntimeError):
    """A server could not be started: it died or never became ready (a finding)."""


class ServerUnavailable(ServerError):
    """A server cannot run here: its package or environment is missing (a skip, not a finding)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    os.setsid()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_process(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the server's process group, SIGKILL it after ``grace_s``."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # stragglers of the group
        os.killpg(proc.pid, signal.SIGKILL)
    LIVE.pop(proc.pid, None)


def http_json(url: str, body: dict | None = None, timeout: float = 5.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


@dataclass
class Server:
    """One OpenAI-compatible endpoint: started by the tester (subclasses) or given by URL."""

    name = "server"
    #: Fields added to every request body sent to this server (pinned decoding defaults).
    request_defaults: dict[str, Any] = field(default_factory=dict)
    base_url: str = ""
    model_id: str = ""
    command: list[str] = field(default_factory=list)
    version: str = "unknown"
    start_s: float = 0.0
    proc: subprocess.Popen | None = None
    log_path: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def fingerprint(self) -> dict[str, Any]:
        flags = [a for a in self.command[self.command.index("--") + 1:]] if "--" in self.command else self.command[1:]
        return {"server": self.name, "version": self.version, "base_url": self.base_url, "model_id": self.model_id,
                "command": self.command, "flags": flags, "request_defaults": self.request_defaults,
                "start_s": round(self.start_s, 2)}

    # -- starting ------------------------------------------------------------------------------
    def available(self) -> str:
        """Why this server cannot run here, or '' when it can."""
        return ""

    def build_command(self, model, port: int) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "DO_NOT_TRACK": "1", "VLLM_NO_USAGE_STATS": "1"}

    def start(self, model, timeout_s: float = 300.0) -> None:
        why = self.available()
        if why:
            raise ServerUnavailable(f"{self.name}: {why}")
        port = free_port()
        self.command = self.build_command(model, port)
        self.base_url = f"http://127.0.0.1:{port}"
        log = tempfile.NamedTemporaryFile("w+b", prefix=f"enginebugs-{self.name}-", suffix=".log", delete=False)
        self.log_path = log.name
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     env=self.env(), preexec_fn=_die_with_parent, close_fds=True)
        LIVE[self.proc.pid] = self.command
        try:
            self.wait_ready(t0 + timeout_s)
        except BaseException:
            self.stop()
            raise
        self.start_s = time.monotonic() - t0

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited with status {self.proc.returncode} while starting; "
                                  f"log tail:\n{self.log_tail()}")
            with contextlib.suppress(OSError, ValueError):
                models = http_json(self.base_url + "/v1/models", timeout=2.0)
                data = models.get("data") or []
                if data:
                    self.model_id = self.model_id or data[0]["id"]
                    return
            time.sleep(0.25)
        raise ServerError(f"{self.name} not ready after the start timeout; log tail:\n{self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return Path(self.log_path).read_bytes()[-chars:].decode("utf-8", "replace")
        return ""

    def alive(self) -> bool:
        return self.proc is None or self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        if self.log_path:
            with contextlib.suppress(OSError):
                os.unlink(self.log_path)

    def tokenize(self, text: str) -> list[int] | None:
        """Token ids of ``text`` (no special tokens) from the server's own tokenizer, where it has an
        endpoint for it (vLLM ``/tokenize``, llama.cpp ``/extras/tokenize``); None otherwise."""
        for path, body, key in (("/tokenize", {"model": self.model_id, "prompt": text, "add_special_tokens": False},
                                 "tokens"),
                                ("/extras/tokenize", {"input": text, "add_special": False}, "tokens")):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                return [int(t) for t in http_json(self.base_url + path, body)[key]]
        return None


def _version_in(python: str, dist: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([python, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode == 0:
            return out.stdout.strip()
    return "unknown"


def _missing_modules(python: str, modules: tuple[str, ...]) -> list[str]:
    import importlib.util

    if python == sys.executable:
        return [m for m in modules if importlib.util.find_spec(m) is None]
    code = "import importlib.util,sys; print(','.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"
    out = subprocess.run([python, "-c", code, *modules], capture_output=True, text=True, timeout=60)
    return [m for m in out.stdout.strip().split(",") if m]


@dataclass
class LlamaCppServer(Server):
    """``python -m llama_cpp.server`` (llama-cpp-python) on the model's GGUF f32 (q4_K for Gemma).

    Pinned: ``--n_ctx`` the model's context, ``--n_threads 1``, KV cache f32 (``--type_k/--type_v 0``;
    llama.cpp's default is f16), ``--interrupt_requests False`` (the default cancels a running
    stream when another request arrives), ``--cache False``; per request ``repeat_penalty`` 1.0
    (the server's default 1.1 applies even at temperature 0)."""

    name = "llamacpp-server"
    request_defaults: dict[str, Any] = field(default_factory=lambda: {"repeat_penalty": 1.0})
    modules = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")

    def available(self) -> str:
        missing = _missing_modules(sys.executable, self.modules)
        return f"missing module(s) {', '.join(missing)} (pip install 'enginebugs[serve]')" if missing else ""

    def build_command(self, model, port: int) -> list[str]:
        gguf = model.files.get("gguf-f32") or next((v for k, v in model.files.items() if k.startswith("gguf-")), None)
        if gguf is None:
            raise ServerError(f"{self.name}: model {model.name} has no GGUF file")
        self.version = _version_in(sys.executable, "llama_cpp_python")
        return [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1", "--port", str(port),
                "--n_ctx", str(model.context_length), "--n_threads", "1", "--n_threads_batch", "1",
                "--type_k", "0", "--type_v", "0", "--interrupt_requests", "False", "--cache", "False",
                "--verbose", "False"]


@dataclass
class TransformersServer(Server):
    """``transformers serve`` (transformers >= 5) on the model's HF folder.

    Pinned: ``--device cpu --dtype float32``, no continuous batching, ``--default-seed 0``. It has
    no tokenize endpoint: token ids come from the reference tokenizer."""

    name = "transformers-server"
    modules = ("transformers", "torch", "fastapi", "uvicorn", "openai")

    def available(self) -> str:
        missing = _missing_modules(sys.executable, self.modules)
        return f"missing module(s) {', '.join(missing)} (pip install 'enginebugs[serve]')" if missing else ""

    def build_command(self, model, port: int) -> list[str]:
        if "hf" not in model.files:
            raise ServerError(f"{self.name}: model {model.name} has no HF folder")
        self.version = _version_in(sys.executable, "transformers")
        return [sys.executable, "-m", "transformers.cli.transformers", "serve", model.files["hf"],
                "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--dtype", "float32",
                "--default-seed", "0", "--log-level", "warning"]

    def env(self) -> dict[str, str]:
        return {**super().env(), "OMP_NUM_THREADS": "1"}


@dataclass
class VllmServer(Server):
    """``python -m vllm.entrypoints.openai.api_server`` from the vLLM environment (``.venv-vllm`` or
    ``$ENGINEBUGS_VLLM_PYTHON``; the ``vllm`` console script fails in the CPU build) on the HF folder.

    Pinned: ``--dtype float32 --enforce-eager``, ``--max-model-len`` the model's context,
    ``--max-num-seqs 8``, ``--seed 0``, 1 GiB CPU KV space (``VLLM_CPU_KVCACHE_SPACE``), one OMP thread,
    prefix caching on (vLLM's default). 26 s or more to start on 2 cores."""

    name = "vllm-server"
    #: vLLM returns the prompt's and each choice's token ids: the oracles compare those exactly.
    request_defaults: dict[str, Any] = field(default_factory=lambda: {"return_token_ids": True})
    python: str = ""

    def available(self) -> str:
        from enginebugs.difftest.engines.vllm_engine import worker_python

        python, why = worker_python()
        self.python = python or ""
        return why

    def build_command(self, model, port: int) -> list[str]:
        if "hf" not in model.files:
            raise ServerError(f"{self.name}: model {model.name} has no HF folder")
        self.version = _version_in(self.python, "vllm-cpu")
        if self.version == "unknown":
            self.version = _version_in(self.python, "vllm")
        return [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", model.files["hf"],
                "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
                "--max-model-len", str(model.context_length), "--max-num-seqs", "8", "--seed", "0",
                "--disable-log-stats"]

    def env(self) -> dict[str, str]:
        return {**super().env(), "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "1",
                "VLLM_CPU_OMP_THREADS_BIND": "nobind", "VLLM_LOGGING_LEVEL": "WARNING"}


@dataclass
class UrlServer(Server):
    """An endpoint the user runs (SGLang, Ollama, another vLLM): never started or stopped here."""

    name = "url"

    def start(self, model, timeout_s: float = 30.0) -> None:
        t0 = time.monotonic()
        self.wait_ready(t0 + timeout_s)
        self.start_s = 0.0
        with contextlib.suppress(OSError, ValueError):
            self.version = str(http_json(self.base_url + "/version").get("version", "unknown"))


SERVERS: dict[str, Callable[[], Server]] = {"llamacpp": LlamaCppServer, "transformers": TransformersServer,
                                            "vllm": VllmServer}


def server_named(name: str) -> Server:
    """``llamacpp``, ``llamacpp-server``, ``transformers``, ``vllm`` ... -> a fresh (stopped) server."""
    key = name.removesuffix("-server")
    if key not in SERVERS:
        raise KeyError(f"unknown server {name!r}; choose from {', '.join(SERVERS)} (or --server-url URL)")
    return SERVERS[key]()


def url_server(url: str, index: int = 0) -> Server:
    host = url.rstrip("/").removesuffix("/v1")
    server = UrlServer(base_url=host)
    server.name = f"url{index or ''}"
    return server


def _terminate_all(signum, _frame) -> None:
    for pid in list(LIVE):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        LIVE.pop(pid, None)
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def started(servers: list[Server], model, progress: Callable[[str], None] = lambda _: None,
            timeout_s: float = 300.0) -> Iterator[tuple[list[Server], dict[str, ServerError]]]:
    """Start every server once (one after the other: the machine may be small); yield the ones that
    came up and, for the others, why not. All are stopped on the way out, whatever happened."""
    previous = signal.getsignal(signal.SIGTERM) if _main_thread() else None
    if previous is not None:
        signal.signal(signal.SIGTERM, _terminate_all)
    up: list[Server] = []
    failed: dict[str, ServerError] = {}
    try:
        for s in servers:
            progress(f"starting {s.name}")
            try:
                s.start(model, timeout_s)
                up.append(s)
                progress(f"{s.label} ready at {s.base_url} in {s.start_s:.1f} s")
            except ServerError as exc:
                failed[s.name] = exc
                progress(f"{s.name} did not start: {str(exc).splitlines()[0]}")
        yield up, failed
    finally:
        for s in servers:
            s.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
