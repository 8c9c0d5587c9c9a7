"""Run engine configurations as Ray actors (``--executor ray``): the runner's clients, on a cluster.

Each configuration becomes ``replicas`` Ray actors with declared resources (:func:`resources_for`:
``num_cpus`` from the configuration's threads, ``num_gpus`` for CUDA engines, one per tensor-parallel
rank for vLLM); every actor loads the model once and answers engine calls as the local worker does
(it reuses the worker's request handler, :class:`~enginebugs.difftest.worker._Server`). The prompt
set is sharded across the replicas of one configuration (``RayClient.shard``, used by the runner),
results travel as Ray objects (full-vocabulary log-probabilities as numpy arrays, no files) and
are judged by the same runner code, so the findings are those of the local executor.

Ray does the scheduling, object transfer and worker environments (``runtime_env``: an engine with
its own interpreter, such as vLLM's venv, gets ``py_executable``). Actors are never restarted and
calls never retried: a dead actor is a Crash finding (:class:`~enginebugs.difftest.worker.WorkerCrashed`),
a call past its timeout a System Hang (:class:`~enginebugs.difftest.worker.WorkerTimeout`, the actor
is killed), and the run goes on with the other configurations.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Iterator

from enginebugs.difftest.paths import source_checkout
from enginebugs.difftest.protocol import EngineConfig, ModelSpec, PromptScores, Unsupported
from enginebugs.difftest.worker import DECODERS, EngineError, WorkerCrashed, WorkerTimeout, inline_arrays

#: Object store of a Ray instance started here (bytes): small, the machine is shared.
LOCAL_OBJECT_STORE = 128 * 1024 ** 2


class RayUnavailable(RuntimeError):
    """Ray is not installed (``pip install 'enginebugs[ray]'``) or the cluster cannot be reached."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailable("--executor ray needs Ray: pip install 'enginebugs[ray]'") from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Ray, initialised once per process: the cluster at ``address`` (``auto``, ``ray://host:10001``)
    or a local instance without dashboard and with a small object store."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(_pythonpath())}} if _pythonpath() else None
    try:
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                     object_store_memory=LOCAL_OBJECT_STORE, runtime_env=env, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(f"cannot start or reach Ray{f' at {address}' if address else ''}: {exc}") from None
    return ray


def _pythonpath() -> list[str]:
    """From a checkout the actors import this checkout (and its test plugins), as local workers do."""
    checkout = source_checkout()
    return [p for p in ([str(checkout)] if checkout else []) + [os.environ.get("PYTHONPATH", "")] if p]


# ---------------------------------------------------------------------------------------- resources
@dataclass(frozen=True)
class Resources:
    num_cpus: float = 1
    num_gpus: float = 0
    replicas: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "replicas": self.replicas}


def resources_for(config: EngineConfig, overrides: dict[str, Resources] | None = None,
                  replicas: int = 1) -> Resources:
    """What one actor of ``config`` asks Ray for: an override by label or engine name, else
    ``threads`` CPUs (at least 1) and, for CUDA engines (``*-cuda``, or vLLM with ``device=cuda``),
    one GPU per tensor-parallel rank."""
    for key in (config.label, config.engine):
        if overrides and key in overrides:
            return overrides[key]
    threads = config.options.get("threads")
    cpus = threads if isinstance(threads, int) and threads > 0 else 1
    gpu = config.engine.endswith("-cuda") or str(config.options.get("device", "")).startswith("cuda")
    tp = config.options.get("tensor_parallel_size", 1)
    return Resources(cpus, (tp if isinstance(tp, int) and tp > 0 else 1) if gpu else 0, replicas)


def parse_resources(specs: tuple[str, ...] | list[str]) -> dict[str, Resources]:
    """``LABEL_OR_ENGINE=cpus:4,gpus:2,replicas:3`` (repeatable ``--ray-resources``) -> overrides."""
    out: dict[str, Resources] = {}
    for spec in specs:
        key, sep, rest = spec.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise ValueError(f"--ray-resources {spec!r} must look like CONFIG=cpus:N,gpus:M[,replicas:R]")
        values: dict[str, float] = {}
        for item in rest.split(","):
            name, sep, raw = item.partition(":")
            if name.strip() not in ("cpus", "gpus", "replicas") or not sep:
                raise ValueError(f"--ray-resources {spec!r}: {item!r} is not cpus:N, gpus:M or replicas:R")
            try:
                values[name.strip()] = float(raw)
            except ValueError:
                raise ValueError(f"--ray-resources {spec!r}: {raw!r} is not a number") from None
        out[key.strip()] = Resources(values.get("cpus", 1), values.get("gpus", 0), int(values.get("replicas", 1)))
    return out


# -------------------------------------------------------------------------------------------- actor
class EngineActor:
    """One loaded engine in a Ray worker process; answers like the local worker's server."""

    def __init__(self) -> None:
        import tempfile

        from enginebugs.difftest.worker import _Server

        self.server = _Server(None)
        self.artifacts = tempfile.mkdtemp(prefix="enginebugs-ray-")

    def load(self, engine: str, model: dict, config: dict, plugins: list[str]) -> tuple:
        return self._answer(lambda: self.server.handle("load", {"engine": engine, "model": model, "config": config,
                                                                "plugins": plugins, "artifacts_dir": self.artifacts}))

    def call(self, method: str, params: dict) -> tuple:
        return self._answer(lambda: inline_arrays(self.server.handle(method, params)))

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        import shutil

        if self.server.engine is not None:
            self.server.engine.close()
        shutil.rmtree(self.artifacts, ignore_errors=True)

    @staticmethod
    def _answer(work) -> tuple:
        try:
            return ("ok", work())
        except Unsupported as exc:
            return ("unsupported", str(exc))
        except Exception as exc:  # noqa: BLE001 - every engine error goes back to the client
            return ("engine", type(exc).__name__, str(exc), traceback.format_exc())


def _remote_actor_class(ray: Any) -> Any:
    global _ACTOR
    if _ACTOR is None:
        _ACTOR = ray.remote(max_restarts=0, max_task_retries=0)(EngineActor)
    return _ACTOR


_ACTOR: Any = None


# ------------------------------------------------------------------------------------------- client
class RayClient:
    """The runner's client for one configuration, backed by ``resources.replicas`` actors.

    ``shard(r)`` routes the calls of the current thread to replica ``r % replicas`` (the runner
    gives each replica its own slice of the prompts); other calls go to replica 0."""

    def __init__(self, engine: str, model: ModelSpec, config: EngineConfig, *, resources: Resources,
                 python: str | None = None, plugins: list[str] | tuple[str, ...] = (), timeout_s: float = 300,
                 load_timeout_s: float | None = None, address: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.engine, self.model, self.config, self.resources = engine, model, config, resources
        self.python, self.plugins, self.address, self.env = python, list(plugins), address, dict(env or {})
        self.timeout_s, self.load_timeout_s = timeout_s, load_timeout_s or timeout_s
        self.capabilities: frozenset[str] = frozenset()
        self.fingerprint: dict[str, Any] = {}
        self.actors: list[Any] = []
        self._local = threading.local()
        self._dead: Exception | None = None
        self.stderr_tail = ""

    @property
    def shards(self) -> int:
        return max(1, self.resources.replicas)

    @contextlib.contextmanager
    def shard(self, index: int) -> Iterator[None]:
        previous = getattr(self._local, "index", 0)
        self._local.index = index % self.shards
        try:
            yield
        finally:
            self._local.index = previous

    def start(self) -> dict[str, Any]:
        ray = connect(self.address)
        options: dict[str, Any] = {"num_cpus": self.resources.num_cpus, "num_gpus": self.resources.num_gpus}
        runtime_env = {**({"py_executable": self.python} if self.python else {}),
                       **({"env_vars": {**self.env, "PYTHONPATH": os.pathsep.join(_pythonpath())}} if self.env else {})}
        if runtime_env:
            options["runtime_env"] = runtime_env
        actor_class = _remote_actor_class(ray)
        self.actors = [actor_class.options(**options).remote() for _ in range(self.shards)]
        refs = [a.load.remote(self.engine, self.model.to_dict(), self.config.to_dict(), self.plugins)
                for a in self.actors]
        answers = [self._wait(ray, ref, "load", self.load_timeout_s) for ref in refs]
        info = answers[0]
        self.capabilities = frozenset(info["capabilities"])
        self.fingerprint = info["fingerprint"]
        return info

    def call(self, method: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        if method not in DECODERS:
            raise ValueError(f"unknown engine method {method!r}; known: {', '.join(DECODERS)}")
        if self._dead is not None:
            raise self._dead
        ray = import_ray()
        actor = self.actors[getattr(self._local, "index", 0) % len(self.actors)]
        return self._wait(ray, actor.call.remote(method, kwargs), method, timeout or self.timeout_s)

    def _wait(self, ray: Any, ref: Any, method: str, timeout: float) -> Any:
        try:
            answer = ray.get(ref, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            self._kill_all(ray)
            self._dead = WorkerTimeout(f"actor for {self.config.label}: {method!r} did not finish within {timeout:g} s")
            raise self._dead from None
        except ray.exceptions.RayError as exc:  # actor died (abort, segfault, OOM, ray.kill) or unschedulable
            self._kill_all(ray)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self._dead = WorkerCrashed(f"actor for {self.config.label} died during {method!r}: {first}",
                                       str(exc)[-6000:], None)
            raise self._dead from None
        if answer[0] == "ok":
            return answer[1]
        if answer[0] == "unsupported":
            raise Unsupported(answer[1])
        raise EngineError(answer[1], answer[2], answer[3])

    def _kill_all(self, ray: Any) -> None:
        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)

    def close(self) -> None:
        if not self.actors:
            return
        ray = import_ray()
        if self._dead is None:
            with contextlib.suppress(Exception):
                ray.get([a.close.remote() for a in self.actors], timeout=30)
        self._kill_all(ray)
        self.actors = []
        if self._dead is None:
            self._dead = WorkerCrashed(f"actors for {self.config.label} are closed")


def demand(configs: list[EngineConfig], overrides: dict[str, Resources] | None = None,
           replicas: int = 1) -> dict[str, float]:
    """CPUs and GPUs all actors of a run hold at once (every configuration runs concurrently)."""
    plans = [resources_for(c, overrides, replicas) for c in configs]
    return {"CPU": sum(r.num_cpus * r.replicas for r in plans), "GPU": sum(r.num_gpus * r.replicas for r in plans)}


def check_capacity(ray: Any, needed: dict[str, float]) -> None:
    """Refuse a run whose actors cannot all be placed (they would wait for each other forever)."""
    have = ray.cluster_resources()
    short = [f"{needed[k]:g} {k} (the cluster has {have.get(k, 0):g})" for k in needed
             if needed[k] > have.get(k, 0) + 1e-9]
    if short:
        raise RayUnavailable("the actors of this run ask for " + ", ".join(short)
                             + "; lower --ray-resources/--ray-replicas or run fewer configurations")


def ray_factory(model: ModelSpec, options: Any, configs: list[EngineConfig], *, address: str | None = None,
                overrides: dict[str, Resources] | None = None, replicas: int = 1, env: dict[str, str] | None = None):
    """The runner's client factory for ``--executor ray`` (the counterpart of ``runner.worker_factory``).
    A local instance started here gets as many logical CPUs as the run's actors declare (the local
    executor oversubscribes the same way); a cluster must have them."""
    from enginebugs.difftest.engines.registry import worker_python

    needed = demand(configs, overrides, replicas)
    ray = connect(address, num_cpus=max(os.cpu_count() or 1, int(-(-needed["CPU"] // 1))))
    check_capacity(ray, needed)

    def make(config: EngineConfig) -> RayClient:
        return RayClient(config.engine, model, config, resources=resources_for(config, overrides, replicas),
                         python=worker_python(config.engine)[0], plugins=list(options.plugins),
                         timeout_s=options.timeout_s, load_timeout_s=max(options.load_timeout_s, options.timeout_s),
                         address=address, env=env)
    return make


#: Fields of a run that differ between two runs of the same recordings.
RUN_SPECIFIC = frozenset({"id", "started_at", "finished_at", "command", "timings", "wall_s"})
#: Fields of a configuration row that do (timings, the host's fingerprint).
CONFIG_SPECIFIC = frozenset({"load_s", "engine_s", "fingerprint"})


def timing_free(results: dict[str, Any]) -> dict[str, Any]:
    """A results dict (``RunResult.to_dict()``) without timings, host fingerprints and the run id,
    for comparing executors: the same recordings judged the same way give equal dicts."""
    run = results.get("run", {})
    text = json.dumps(results, default=str)
    if run.get("id"):
        text = text.replace(run["id"], "RUN")
    out = json.loads(text)
    out["run"] = {k: v for k, v in out.get("run", {}).items() if k not in RUN_SPECIFIC}
    out["run"]["configs"] = [{k: v for k, v in c.items() if k not in CONFIG_SPECIFIC}
                             for c in out["run"].get("configs", [])]
    out.get("summary", {}).pop("wall_s", None)
    return out
