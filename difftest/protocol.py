"""The one small protocol every engine adapter implements, and the serialisable results it returns.

Runner and oracles never share Python objects with an engine: an adapter runs inside a worker
process (possibly in another virtual environment) and every argument and result below is plain
data (``to_dict``/``from_dict``) so it can cross a pipe as JSON.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

#: Capabilities an engine may declare. An oracle that needs one the engine lacks is *skipped with
#: the reason*, never passed.
CAPABILITIES = frozenset({
    "tokenize",            # text -> ids, with/without special tokens, special-token parsing on/off
    "detokenize",          # ids -> text
    "stream_detokenize",   # ids -> text chunks, the way the engine's own server streams them
    "offsets",             # text -> each token's character span (token_offsets)
    "prompt_logprobs",     # per-position log-probabilities for a prompt (full or top-k)
    "generate",            # greedy generation with per-step top-k logprobs
    "batch_generate",      # several prompts in one batch
    "kv_cache_toggle",     # generation with the KV cache off (full recompute) as a config knob
    "prefix_reuse",        # reuse of a cached prefix across calls (state save/load, prefix caching)
    "chunked_prefill",     # prefill in chunks (n_batch/n_ubatch, max_num_batched_tokens)
    "threads",             # thread count as a config knob
    "seeded_sampling",     # sampling with a per-request seed
    "sampling",            # sample_next: n next-token draws with the engine's own sampler (temperature, top-k/p, min-p)
})

#: The capability a configuration knob exercises, for engines that do not declare their own
#: ``knob_capabilities``: a pair of configurations differing only in such knobs is judged by that
#: capability's oracle (``chunked_prefill``: cache.chunked_prefill, ``prefix_reuse``:
#: cache.prefix_reuse, ``kv_cache_toggle``: cache.use_cache), any other knob by precision.knobs.
KNOB_CAPABILITIES = {"n_batch": "chunked_prefill", "n_ubatch": "chunked_prefill", "prefill_chunk": "chunked_prefill",
                     "max_num_batched_tokens": "chunked_prefill", "enable_chunked_prefill": "chunked_prefill",
                     "prefix_cache": "prefix_reuse", "state_roundtrip": "prefix_reuse",
                     "enable_prefix_caching": "prefix_reuse", "use_cache": "kv_cache_toggle", "threads": "threads"}

#: ``generate_batch(..., seeds=[...])``: a row sampled without a seed of its own (``None`` is greedy).
UNSEEDED = "unseeded"


@dataclass(frozen=True)
class EngineConfig:
    """One configuration of one engine: ``engine`` is the registered engine name, ``label`` the
    name findings use (e.g. ``llamacpp:f32``), ``dtype`` the weights' dtype or quantization
    (``f32``, ``f16``, ``bf16``, ``q8_0``, ``q4_K``), ``options`` the engine's own knobs
    (``use_cache``, ``n_batch``, ``n_ubatch``, ``threads``, ``type_k``, ``flash_attn``, ...).
    ``version`` pins the engine's own package (``transformers@5.21.1:f32``) and ``pins`` adds
    ``name==version`` pins (``with=tokenizers==0.21.0``): such a configuration runs in its own
    worker environment (:mod:`enginebugs.difftest.envs`); empty means the current environment."""

    engine: str
    dtype: str = "f32"
    options: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    version: str = ""
    pins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "pins", tuple(self.pins))
        if not self.label:
            extra = [f"{k}={v}" for k, v in sorted(self.options.items())]
            extra += [f"with={'+'.join(self.pins)}"] if self.pins else []
            name = f"{self.engine}@{self.version}" if self.version else self.engine
            object.__setattr__(self, "label", f"{name}:{self.dtype}" + (f"[{','.join(extra)}]" if extra else ""))

    @property
    def build(self) -> tuple[str, str, tuple[str, ...]]:
        """The engine and the package versions it runs with: two configurations of one build
        share a tokenizer and differ only in knobs; another version is another implementation."""
        return self.engine, self.version, self.pins

    @property
    def versioned(self) -> bool:
        """Whether this configuration pins packages (and so runs in its own environment)."""
        return bool(self.version or self.pins)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pins"] = list(self.pins)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EngineConfig":
        return cls(**d)


@dataclass(frozen=True)
class ModelSpec:
    """Where one model's weights live in every engine's format. ``files`` maps a format key
    (``hf`` directory, ``gguf-f32``, ``gguf-f16``, ``gguf-q8_0``, ``gguf-q4_K``, ``onnx`` directory,
    ...) to a path. ``name`` is ``tiny``, ``gemma3-270m`` or a user model's; ``recipe_hash`` identifies the build."""

    name: str
    files: dict[str, str]
    recipe_hash: str = ""
    context_length: int = 512
    vocab_size: int = 0
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    #: a format that could not be built -> the converter's reason (configurations needing it are skipped)
    unavailable: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        return cls(**d)


@dataclass
class TopK:
    """Top-k log-probabilities at one position: parallel lists, best first (fp32 log-softmax)."""

    ids: list[int]
    logprobs: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TopK":
        return cls(list(d["ids"]), list(d["logprobs"]))


@dataclass
class PromptScores:
    """Per-position scores of a prompt. Position ``i`` scores token ``i+1`` given tokens ``0..i``.
    ``token_logprobs[i]`` is the log-probability of the actual next token; ``top[i]`` the top-k.
    ``full_logprobs_file`` optionally names a float32 ``.npy`` of shape (positions, vocab)
    written by the worker, for exact KL divergence without sending the vocabulary over a pipe."""

    token_ids: list[int]
    token_logprobs: list[float]
    top: list[TopK]
    full_logprobs_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PromptScores":
        return cls(list(d["token_ids"]), list(d["token_logprobs"]), [TopK.from_dict(t) for t in d["top"]],
                   d.get("full_logprobs_file"))


@dataclass
class Generation:
    """Greedy (or seeded) continuation: new token ids, per-step top-k logprobs, and the text.
    ``cached_prompt_tokens``, where the engine reports it (vLLM), is how many prompt tokens came
    from its prefix cache: a cold-vs-hot comparison with 0 there compared nothing."""

    prompt_ids: list[int]
    token_ids: list[int]
    top: list[TopK]
    text: str = ""
    cached_prompt_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Generation":
        return cls(list(d["prompt_ids"]), list(d["token_ids"]), [TopK.from_dict(t) for t in d["top"]],
                   d.get("text", ""), d.get("cached_prompt_tokens"))


@runtime_checkable
class Engine(Protocol):
    """What an adapter implements: every method the runner may call. Methods beyond
    ``capabilities`` may raise :class:`Unsupported`; the runner turns that into a skip with the
    reason. :class:`EngineDefaults` gives every optional method a default; ``knob_capabilities``
    (optional) maps the engine's own knobs to the capability they exercise (see
    :data:`KNOB_CAPABILITIES`)."""

    name: str
    capabilities: frozenset[str]

    def load(self, model: ModelSpec, config: EngineConfig) -> None: ...
    def fingerprint(self) -> dict[str, Any]: ...
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]: ...
    def tokenize_batch(self, texts: list[str], add_special: bool = True,
                       parse_special: bool = False) -> list[list[int]]: ...
    def detokenize(self, ids: list[int]) -> str: ...
    def stream_detokenize(self, ids: list[int]) -> list[str]: ...
    def prompt_logprobs(self, ids: list[int], top_k: int = 10, full: bool = False) -> PromptScores: ...
    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation: ...
    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10,
                       seeds: list[int | str | None] | None = None) -> list[Generation]: ...
    def detokenize_batch(self, batch: list[list[int]]) -> list[str]: ...
    def token_offsets(self, text: str, add_special: bool = False) -> list[list[int]]: ...
    def token_offsets_batch(self, texts: list[str], add_special: bool = False) -> list[list[list[int]]]: ...
    def stream_detokenize_batch(self, batch: list[list[int]]) -> list[list[str]]: ...
    def reset_prefix_cache(self) -> bool: ...
    def sample_next(self, ids: list[int], n: int, settings: dict[str, Any], seed: int) -> list[int]: ...
    def close(self) -> None: ...


class EngineDefaults:
    """Defaults for every optional method of :class:`Engine`; a plugin subclasses this and writes
    ``name``, ``capabilities``, ``load``, ``tokenize``, ``detokenize``, ``prompt_logprobs`` and
    ``generate``. Batch methods loop over this object's own single-item methods (so overriding
    ``tokenize`` is never bypassed); batch generation, seeded batches, streaming and the prefix
    reset raise :class:`Unsupported` (their oracles are skipped with the reason)."""

    name = "engine"
    capabilities: frozenset[str] = frozenset()
    knob_capabilities: dict[str, str] = {}
    #: The engine's knobs with their defaults (``--configs name:f32:knob=value``); others are refused.
    option_defaults: dict[str, Any] = {}

    def preflight(self, model: ModelSpec, config: EngineConfig) -> None:
        """Refuse unknown knobs before anything starts (ValueError, shown as ``error: ...``)."""
        unknown = sorted(set(config.options) - set(self.option_defaults))
        if unknown:
            raise ValueError(f"{self.name} does not understand option(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(self.option_defaults)) or 'none'}")

    def knobs(self, config: EngineConfig) -> dict[str, Any]:
        """``config``'s knobs over the defaults."""
        return {**self.option_defaults, **config.options}

    def fingerprint(self) -> dict[str, Any]:
        return {"engine": self.name}

    def tokenize_batch(self, texts: list[str], add_special: bool = True,
                       parse_special: bool = False) -> list[list[int]]:
        return [self.tokenize(t, add_special, parse_special) for t in texts]  # type: ignore[attr-defined]

    def detokenize_batch(self, batch: list[list[int]]) -> list[str]:
        return [self.detokenize(ids) for ids in batch]  # type: ignore[attr-defined]

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        raise Unsupported(f"{self.name} has no streaming detokenizer")

    def stream_detokenize_batch(self, batch: list[list[int]]) -> list[list[str]]:
        return [self.stream_detokenize(ids) for ids in batch]

    def token_offsets(self, text: str, add_special: bool = False) -> list[list[int]]:
        """``[start, end)`` character span of each token :meth:`tokenize` gives ``text`` (special
        tokens split as text, as ``tokenize`` does by default)."""
        raise Unsupported(f"{self.name} does not report token offsets")

    def token_offsets_batch(self, texts: list[str], add_special: bool = False) -> list[list[list[int]]]:
        return [self.token_offsets(t, add_special) for t in texts]

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10,
                       seeds: list[int | str | None] | None = None) -> list[Generation]:
        raise Unsupported(f"{self.name} does not batch generation")

    def reset_prefix_cache(self) -> bool:
        raise Unsupported(f"{self.name} has no prefix-cache reset")

    def sample_next(self, ids: list[int], n: int, settings: dict[str, Any], seed: int) -> list[int]:
        """``n`` independent draws of the token after ``ids`` with the engine's own sampler under
        ``settings`` (``temperature``, ``top_k``, ``top_p``, ``min_p``; 0 / 1.0 = off), seeded by ``seed``."""
        raise Unsupported(f"{self.name} does not sample")

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Batched:
    """An additive batch method: many items in one call (one worker round trip)."""

    single: str     # the per-item method it stands for
    arg: str        # that method's item argument
    batch_arg: str  # the batch method's list argument


#: The batch methods of the protocol. An engine may implement them; where it does not, the
#: worker calls ``single`` once per item (:func:`call_batched`), so ``result[i]`` is always
#: ``single(items[i], ...)``.
BATCHED = {"tokenize_batch": Batched("tokenize", "text", "texts"),
           "detokenize_batch": Batched("detokenize", "ids", "batch"),
           "stream_detokenize_batch": Batched("stream_detokenize", "ids", "batch"),
           "token_offsets_batch": Batched("token_offsets", "text", "texts")}


def single_method(method: str) -> str:
    """The per-item method a batch method stands for (any other method: itself)."""
    return BATCHED[method].single if method in BATCHED else method


def _defined_in(cls: type, name: str) -> type | None:
    return next((c for c in cls.__mro__ if name in vars(c)), None)


def own_batch(engine: Any, method: str) -> Any:
    """``engine``'s batch ``method``, unless the engine lacks one or overrides the single-item
    method in a class below the one defining the batch method (a subclass that changes
    ``tokenize`` but inherits its parent's ``tokenize_batch``): then None, and the batch runs
    through the single-item method of this same object."""
    own = getattr(engine, method, None)
    if own is None:
        return None
    batch_cls, single_cls = _defined_in(type(engine), method), _defined_in(type(engine), BATCHED[method].single)
    if batch_cls is not None and single_cls is not None and single_cls is not batch_cls \
            and issubclass(single_cls, batch_cls):
        return None
    return own


def call_batched(engine: Any, method: str, items: list, **common: Any) -> list:
    """``engine``'s own batch ``method`` on ``items`` (see :func:`own_batch`), else one single call per item."""
    spec = BATCHED[method]
    own = own_batch(engine, method)
    if own is not None:
        return own(**{spec.batch_arg: list(items)}, **common)
    single = getattr(engine, spec.single)
    return [single(**{spec.arg: item}, **common) for item in items]


class Unsupported(NotImplementedError):
    """The engine cannot serve this request; the message is the reason shown in the skip."""
