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
    "prompt_logprobs",     # per-position log-probabilities for a prompt (full or top-k)
    "generate",            # greedy generation with per-step top-k logprobs
    "batch_generate",      # several prompts in one batch
    "kv_cache_toggle",     # generation with the KV cache off (full recompute) as a config knob
    "prefix_reuse",        # reuse of a cached prefix across calls (state save/load, prefix caching)
    "chunked_prefill",     # prefill in chunks (n_batch/n_ubatch, max_num_batched_tokens)
    "threads",             # thread count as a config knob
    "seeded_sampling",     # sampling with a per-request seed
})


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
    ...) to a path. ``name`` is ``tiny`` or ``gemma3-270m``; ``recipe_hash`` identifies the build."""

    name: str
    files: dict[str, str]
    recipe_hash: str = ""
    context_length: int = 512
    vocab_size: int = 0
    bos_token_id: int | None = None
    eos_token_id: int | None = None

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
    """What an adapter implements. Methods beyond ``capabilities`` may raise
    :class:`Unsupported`; the runner turns that into a skip with the reason."""

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
    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10) -> list[Generation]: ...
    def close(self) -> None: ...


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
           "stream_detokenize_batch": Batched("stream_detokenize", "ids", "batch")}


def single_method(method: str) -> str:
    """The per-item method a batch method stands for (any other method: itself)."""
    return BATCHED[method].single if method in BATCHED else method


def call_batched(engine: Any, method: str, items: list, **common: Any) -> list:
    """``engine``'s own batch ``method`` on ``items``, else one single call per item."""
    spec = BATCHED[method]
    own = getattr(engine, method, None)
    if own is not None:
        return own(**{spec.batch_arg: list(items)}, **common)
    single = getattr(engine, spec.single)
    return [single(**{spec.arg: item}, **common) for item in items]


class Unsupported(NotImplementedError):
    """The engine cannot serve this request; the message is the reason shown in the skip."""
