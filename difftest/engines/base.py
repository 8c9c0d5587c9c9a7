"""Shared pieces of the engine adapters: log-softmax/top-k, EOS handling, option access and the
environment fingerprint. Heavy engine libraries are never imported here."""
from __future__ import annotations

import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from enginebugs.difftest.protocol import EngineConfig, Generation, ModelSpec, PromptScores, TopK, Unsupported

#: CPU flags that change numerics or kernel choice; the fingerprint records which are present.
RELEVANT_CPU_FLAGS = ("sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
                      "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16",
                      "amx_int8", "asimd", "sve", "bf16", "i8mm")
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "GGML_NUM_THREADS")


#: Rows per chunk in :func:`log_softmax` (bounds the temporaries: 64 rows of a 262k vocabulary
#: are 64 MB in float32, where the whole array of an 800-token prompt in float64 was 1.7 GB).
ROWS_PER_CHUNK = 64


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax as float32 (NaN/inf propagate): shifted by the row maximum in float32,
    the sum of exponentials accumulated in float64, row chunk by row chunk."""
    x = np.asarray(logits, dtype=np.float32)
    flat = x.reshape(-1, x.shape[-1]) if x.ndim != 1 else x.reshape(1, -1)
    out = np.empty(flat.shape, dtype=np.float32)
    for r in range(0, len(flat), ROWS_PER_CHUNK):
        rows = flat[r:r + ROWS_PER_CHUNK]
        shifted = np.subtract(rows, np.max(rows, axis=-1, keepdims=True), out=out[r:r + ROWS_PER_CHUNK])
        total = np.sum(np.exp(shifted), axis=-1, keepdims=True, dtype=np.float64)
        shifted -= np.log(total).astype(np.float32)
    return out.reshape(x.shape)


def top_entries(logprobs_row: np.ndarray, k: int) -> TopK:
    """The ``k`` best ids of one row, best first; ties go to the lower id (NaN sorts last)."""
    row = np.asarray(logprobs_row)
    k = min(k, row.shape[-1])
    if k <= 0:
        return TopK([], [])
    if np.isnan(row).any():
        row = np.where(np.isnan(row), -np.inf, row)
    threshold = np.partition(row, row.shape[-1] - k)[row.shape[-1] - k]
    candidates = np.flatnonzero(row >= threshold)  # the top k plus anything tied with the k-th
    order = candidates[np.lexsort((candidates, -row[candidates].astype(np.float64)))][:k]
    return TopK([int(i) for i in order], [float(logprobs_row[i]) for i in order])


def scores_from_logits(ids: list[int], logits: np.ndarray, k: int, full: bool) -> PromptScores:
    """PromptScores from per-position logits (``len(ids)`` rows): position ``i`` scores ``ids[i+1]``.
    With ``full`` the float32 log-probabilities stay in memory as ``full_logprobs`` (a worker
    sends them as binary frames; nothing goes through a file)."""
    lp = log_softmax(logits[: len(ids) - 1])
    scores = PromptScores(list(ids), [float(lp[i, ids[i + 1]]) for i in range(len(lp))],
                          [top_entries(row, k) for row in lp])
    if full:
        scores.full_logprobs = lp
    return scores


def cut_at_eos(tokens: list[int], eos_id: int | None) -> list[int]:
    """``tokens`` up to and including the first EOS."""
    if eos_id is not None and eos_id in tokens:
        return tokens[: tokens.index(eos_id) + 1]
    return tokens


class Artifacts:
    """A scratch folder of an engine's (a model folder rewritten for an older transformers)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        if directory is None:
            directory = tempfile.mkdtemp(prefix="enginebugs-artifacts-")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)


def cpu_info() -> dict[str, Any]:
    """CPU model, the numerically relevant flags, logical CPUs and the usable ones."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model") and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": model, "machine": platform.machine(), "logical_cpus": os.cpu_count(), "usable_cpus": usable,
            "flags": sorted(f for f in RELEVANT_CPU_FLAGS if f in flags)}


def package_versions(*names: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def knob_type(default: Any) -> type | tuple[type, ...] | None:
    """The type a knob's value must have, from its default (None: any)."""
    if isinstance(default, bool):
        return bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return (int, float)
    if isinstance(default, str):
        return str
    return None


def _type_name(expected: type | tuple[type, ...]) -> str:
    return {bool: "true or false", int: "an integer", str: "text"}.get(expected, "a number")  # type: ignore[arg-type]


class EngineBase:
    """Default behaviour for adapters: options with defaults, Unsupported for what is not declared,
    and the common part of the fingerprint."""

    name = "base"
    capabilities: frozenset[str] = frozenset()
    packages: tuple[str, ...] = ("numpy",)
    #: Option names this engine understands, with defaults; others are rejected at load.
    option_defaults: dict[str, Any] = {}
    #: Dtypes the adapter runs (None: whatever the model has weights for).
    dtypes: tuple[str, ...] | None = None
    #: The distribution ``engine@version`` pins (None: the engine cannot be pinned).
    package: str | None = None
    #: Version ranges the adapter supports, by distribution (checked before anything runs).
    supported: dict[str, str] = {}
    #: How its pinned worker environments are built (:mod:`enginebugs.difftest.envs`).
    env_flavour = "overlay"

    def __init__(self) -> None:
        self.model: ModelSpec | None = None
        self.config: EngineConfig | None = None
        self.artifacts: Artifacts | None = None  # set by set_artifacts_dir(), else a temp dir at load

    # -- helpers ---------------------------------------------------------------------------------
    def set_artifacts_dir(self, directory: str | Path | None) -> None:
        self.artifacts = Artifacts(directory)

    def _begin_load(self, model: ModelSpec, config: EngineConfig) -> None:
        self.preflight(model, config)
        self.model, self.config = model, config
        if self.artifacts is None:
            self.artifacts = Artifacts()

    def weights_key(self, dtype: str) -> str | None:
        """The ``ModelSpec.files`` key this adapter loads for ``dtype`` (None: not declared)."""
        return None

    def preflight(self, model: ModelSpec, config: EngineConfig) -> None:
        """Refuse, before anything loads, a configuration this adapter cannot run on ``model``:
        unknown knobs (ValueError), knob values of the wrong type (ValueError), a dtype it does not
        run or weights the model lacks (Unsupported)."""
        unknown = sorted(set(config.options) - set(self.option_defaults))
        if unknown:
            raise ValueError(f"{self.name} does not understand option(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(self.option_defaults)) or 'none'}")
        for key, value in config.options.items():
            expected = knob_type(self.option_defaults[key])
            if expected is not None and (not isinstance(value, expected) or (expected is int and isinstance(value, bool))):
                raise ValueError(f"{key}={value!r} must be {_type_name(expected)}")
        if self.dtypes is not None and config.dtype not in self.dtypes:
            raise Unsupported(f"{self.name} runs {', '.join(self.dtypes)}, not {config.dtype!r}")
        key = self.weights_key(config.dtype)
        if key is not None and key in model.unavailable:
            raise Unsupported(f"no {key!r} weights: {model.unavailable[key]}")
        if key is not None and key not in model.files:
            raise Unsupported(f"model {model.name!r} has no {key!r} weights for {config.label} "
                              f"(it has: {', '.join(sorted(model.files))})")

    def option(self, key: str) -> Any:
        assert self.config is not None, "load() first"
        return self.config.options.get(key, self.option_defaults[key])

    def model_file(self, key: str) -> str:
        assert self.model is not None
        if key not in self.model.files:
            raise Unsupported(f"model {self.model.name!r} has no {key!r} file "
                              f"(available: {', '.join(sorted(self.model.files))})")
        return self.model.files[key]

    @staticmethod
    def require_greedy(seed: int | None) -> None:
        if seed is not None:
            raise Unsupported("seeded sampling is not implemented by this adapter; generation is greedy")

    def base_fingerprint(self) -> dict[str, Any]:
        assert self.config is not None and self.model is not None
        return {
            "engine": self.name,
            "label": self.config.label,
            "dtype": self.config.dtype,
            "options": {k: self.option(k) for k in sorted(self.option_defaults)},
            "model": {"name": self.model.name, "recipe_hash": self.model.recipe_hash},
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpu": cpu_info(),
            "thread_env": {k: os.environ[k] for k in THREAD_ENV_VARS if k in os.environ},
            "packages": package_versions(*self.packages),
        }

    # -- protocol defaults -----------------------------------------------------------------------
    def tokenize_batch(self, texts: list[str], add_special: bool = True,
                       parse_special: bool = False) -> list[list[int]]:
        """One :meth:`tokenize` per text; adapters with a batch encoder override this."""
        return [self.tokenize(t, add_special, parse_special) for t in texts]

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        raise Unsupported(f"{self.name} has no streaming detokenizer of its own")

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10) -> list[Generation]:
        raise Unsupported(f"{self.name} adapter does not batch generation")

    def close(self) -> None:
        pass
