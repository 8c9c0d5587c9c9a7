"""Planted faults: wrapper engines that break one thing, the negative controls of the oracles.

Each wrapper delegates to an inner engine and corrupts one behaviour the way real engine bugs do:

==========================  ====================================================  =========================
plugin factory              what it breaks                                        oracle that must fire
==========================  ====================================================  =========================
``leading_space_dropper``   tokenize() drops one leading space                     tokenization.ids
``utf8_stream_splitter``    stream_detokenize() decodes token by token (splits     tokenization.streaming
                            multi-byte UTF-8 into U+FFFD)
``stale_prefix_cache``      a prefix-cache hit keeps stale KV entries past the     cache.prefix_reuse
                            shared prefix
``batch_crosstalk``         a batch row sees the previous row's last token         batch.needle, batch.order
``logit_noise``             small deterministic noise on every log-probability     precision.logprobs / kld
``seed_drift``              every seeded request draws from the seed plus a         sampling.seeded
                            running count (the request's RNG stream is not its own)
``abort_on_generate``       the process aborts in generate()                       engine.crash
``hang_on_generate``        generate() never returns                               engine.hang
==========================  ====================================================  =========================

As plugins: ``--engine-plugin enginebugs.difftest.faults:leading_space_dropper`` registers an engine named
``leading_space_dropper``; its configurations name the engine they wrap with the ``wraps`` knob
(default ``transformers``), e.g. ``leading_space_dropper:f32:wraps=llamacpp``. In-process:
``LeadingSpaceDropper(inner=engine)``.
"""
from __future__ import annotations

import dataclasses
import os
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from enginebugs.difftest.protocol import EngineConfig, Generation, ModelSpec, PromptScores, TopK, Unsupported, call_batched

DEFAULT_WRAPPED = "transformers"


class FaultyEngine:
    """Delegates everything to ``inner``; subclasses override what they break."""

    name = "faulty"
    #: Capabilities the wrapper provides itself, on top of the inner engine's.
    adds: frozenset[str] = frozenset()

    def __init__(self, inner: Any | None = None) -> None:
        self.inner = inner
        self._artifacts_dir: str | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(getattr(self.inner, "capabilities", frozenset())) | self.adds

    def set_artifacts_dir(self, directory: str | None) -> None:
        self._artifacts_dir = directory
        if self.inner is not None and hasattr(self.inner, "set_artifacts_dir"):
            self.inner.set_artifacts_dir(directory)

    def load(self, model: ModelSpec, config: EngineConfig) -> None:
        options = dict(config.options)
        wrapped = options.pop("wraps", DEFAULT_WRAPPED)
        if self.inner is None:
            from enginebugs.difftest.engines.registry import create_engine

            self.inner = create_engine(wrapped)
            if self._artifacts_dir is not None and hasattr(self.inner, "set_artifacts_dir"):
                self.inner.set_artifacts_dir(self._artifacts_dir)
        self.inner.load(model, dataclasses.replace(config, engine=getattr(self.inner, "name", wrapped),
                                                   options=options, label=""))

    def fingerprint(self) -> dict[str, Any]:
        return {**self.inner.fingerprint(), "planted_fault": self.name}

    # Delegation of every protocol method; subclasses override what they break.
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        return self.inner.tokenize(text, add_special, parse_special)

    def tokenize_batch(self, texts: list[str], add_special: bool = True,
                       parse_special: bool = False) -> list[list[int]]:
        """The inner engine's batch call, unless this fault overrides :meth:`tokenize`: then every
        text goes through that override, so a planted tokenization fault applies to batches too."""
        if type(self).tokenize is not FaultyEngine.tokenize:
            return [self.tokenize(t, add_special, parse_special) for t in texts]
        return call_batched(self.inner, "tokenize_batch", texts, add_special=add_special, parse_special=parse_special)

    def detokenize(self, ids: list[int]) -> str:
        return self.inner.detokenize(ids)

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        return self.inner.stream_detokenize(ids)

    def prompt_logprobs(self, ids: list[int], top_k: int = 10, full: bool = False) -> PromptScores:
        return self.inner.prompt_logprobs(ids, top_k, full)

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        return self.inner.generate(ids, max_new_tokens, top_k, seed)

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10,
                       **extra: Any) -> list[Generation]:
        """``extra``: protocol extensions of the inner engine (vLLM's ``seeds``), passed through."""
        return self.inner.generate_batch(batch, max_new_tokens, top_k, **extra)

    def reset_prefix_cache(self) -> bool:
        """The inner engine's (optional) prefix-cache reset; Unsupported where it has none."""
        reset = getattr(self.inner, "reset_prefix_cache", None)
        if reset is None:
            raise Unsupported(f"{getattr(self.inner, 'name', 'the wrapped engine')} has no reset_prefix_cache")
        return reset()

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


class LeadingSpaceDropper(FaultyEngine):
    """Drops one leading space before tokenizing (a pre-tokenizer / dummy-prefix bug)."""

    name = "leading_space_dropper"

    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        return self.inner.tokenize(text[1:] if text.startswith(" ") else text, add_special, parse_special)


class Utf8StreamSplitter(FaultyEngine):
    """Streams by decoding each token on its own, so multi-byte characters split across tokens
    come out as U+FFFD pieces (the classic streaming detokenizer bug)."""

    name = "utf8_stream_splitter"
    adds = frozenset({"stream_detokenize"})

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        return [self.inner.detokenize([t]) for t in ids]


class StalePrefixCache(FaultyEngine):
    """On a prefix-cache hit (at least ``MIN_HIT`` shared leading tokens with the previous call)
    the entries after the shared prefix are not invalidated: the model sees the previous prompt's
    tokens there, up to the new prompt's last token."""

    name = "stale_prefix_cache"
    adds = frozenset({"prefix_reuse"})
    MIN_HIT = 3

    def __init__(self, inner: Any | None = None) -> None:
        super().__init__(inner)
        self._previous: list[int] = []

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        ids, seen = list(ids), self._previous
        shared = next((i for i, (a, b) in enumerate(zip(seen, ids)) if a != b), min(len(seen), len(ids)))
        fed = ids
        if shared >= self.MIN_HIT and shared < len(ids) - 1 and len(seen) > shared:
            stale_end = min(len(seen), len(ids) - 1)
            fed = seen[:stale_end] + ids[stale_end:]
        self._previous = ids
        gen = self.inner.generate(fed, max_new_tokens, top_k, seed)
        return dataclasses.replace(gen, prompt_ids=ids)

    def reset_prefix_cache(self) -> bool:
        self._previous = []
        return super().reset_prefix_cache()


class BatchCrosstalk(FaultyEngine):
    """Row ``i > 0`` of a batch also attends to the last prompt token of row ``i - 1``."""

    name = "batch_crosstalk"
    adds = frozenset({"batch_generate"})

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10,
                       **extra: Any) -> list[Generation]:
        rows = [list(r) for r in batch]
        leaked = [rows[0]] + [r[:-1] + [rows[i - 1][-1]] + r[-1:] for i, r in enumerate(rows) if i > 0]
        if "batch_generate" in getattr(self.inner, "capabilities", ()):
            out = self.inner.generate_batch(leaked, max_new_tokens, top_k, **extra)
        else:
            out = [self.inner.generate(r, max_new_tokens, top_k) for r in leaked]
        return [dataclasses.replace(g, prompt_ids=r) for g, r in zip(out, rows)]


class LogitNoise(FaultyEngine):
    """Subtracts ``SIGMA * |z|`` from every log-probability, ``z`` drawn from a generator seeded
    by the context, so the same context always gets the same noise (cache and batch oracles stay
    quiet; only comparisons with another engine see it)."""

    name = "logit_noise"
    SIGMA = 0.1

    def _noise(self, context: list[int], vocab: int) -> np.ndarray:
        seed = zlib.crc32(np.asarray(context, dtype=np.int64).tobytes())
        return -self.SIGMA * np.abs(np.random.default_rng(seed).standard_normal(vocab))

    def load(self, model: ModelSpec, config: EngineConfig) -> None:
        super().load(model, config)
        self._vocab_size = model.vocab_size or 1 << 16

    def _vocab(self) -> int:
        return getattr(self, "_vocab_size", 1 << 16)

    def _noisy_top(self, top: TopK, context: list[int]) -> TopK:
        noise = self._noise(context, max(max(top.ids, default=0) + 1, self._vocab()))
        pairs = sorted(((lp + float(noise[i]), i) for i, lp in zip(top.ids, top.logprobs)), key=lambda p: -p[0])
        return TopK([i for _, i in pairs], [lp for lp, _ in pairs])

    def prompt_logprobs(self, ids: list[int], top_k: int = 10, full: bool = False) -> PromptScores:
        scores = self.inner.prompt_logprobs(ids, top_k, full)
        tops = [self._noisy_top(t, list(ids[: i + 1])) for i, t in enumerate(scores.top)]
        token_lps = [lp + float(self._noise(list(ids[: i + 1]), max(ids[i + 1] + 1, self._vocab()))[ids[i + 1]])
                     for i, lp in enumerate(scores.token_logprobs)]
        path = scores.full_logprobs_file
        if path:
            full_lp = np.load(path)
            for i in range(len(full_lp)):
                full_lp[i] += self._noise(list(ids[: i + 1]), max(full_lp.shape[1], self._vocab()))[: full_lp.shape[1]]
            path = str(Path(path).with_name(Path(path).stem + "-noisy.npy"))
            np.save(path, full_lp.astype(np.float32))
        return PromptScores(list(ids), token_lps, tops, path)

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        gen = self.inner.generate(ids, max_new_tokens, top_k, seed)
        context = list(ids)
        tops = []
        for token, top in zip(gen.token_ids, gen.top):
            tops.append(self._noisy_top(top, context))
            context.append(token)
        return dataclasses.replace(gen, top=tops)


class SeedDrift(FaultyEngine):
    """Each seeded request samples from its seed plus the number of seeded requests served before
    it, as when a per-request generator is shared or re-seeded from global state: the same seed no
    longer gives the same tokens. Greedy and unseeded requests are left alone."""

    name = "seed_drift"

    def __init__(self, inner: Any | None = None) -> None:
        super().__init__(inner)
        self._served = 0

    def _drift(self, seed: Any) -> Any:
        if not isinstance(seed, int) or isinstance(seed, bool):
            return seed
        self._served += 1
        return seed + self._served - 1

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        return self.inner.generate(ids, max_new_tokens, top_k, self._drift(seed))

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10,
                       **extra: Any) -> list[Generation]:
        if extra.get("seeds") is not None:
            extra["seeds"] = [self._drift(s) for s in extra["seeds"]]
        return self.inner.generate_batch(batch, max_new_tokens, top_k, **extra)


class AbortOnGenerate(FaultyEngine):
    """Aborts the process (SIGABRT) on the first generate(), like a failed GGML_ASSERT."""

    name = "abort_on_generate"

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        os.write(2, b"planted fault: GGML_ASSERT(ctx->n_tokens > 0) failed\n")
        os.abort()


class HangOnGenerate(FaultyEngine):
    """Never returns from generate() (a deadlock)."""

    name = "hang_on_generate"

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        while True:
            time.sleep(3600)


FAULTS = {cls.name: cls for cls in (LeadingSpaceDropper, Utf8StreamSplitter, StalePrefixCache, BatchCrosstalk,
                                    LogitNoise, SeedDrift, AbortOnGenerate, HangOnGenerate)}


def leading_space_dropper() -> LeadingSpaceDropper:
    return LeadingSpaceDropper()


def utf8_stream_splitter() -> Utf8StreamSplitter:
    return Utf8StreamSplitter()


def stale_prefix_cache() -> StalePrefixCache:
    return StalePrefixCache()


def batch_crosstalk() -> BatchCrosstalk:
    return BatchCrosstalk()


def logit_noise() -> LogitNoise:
    return LogitNoise()


def seed_drift() -> SeedDrift:
    return SeedDrift()


def abort_on_generate() -> AbortOnGenerate:
    return AbortOnGenerate()


def hang_on_generate() -> HangOnGenerate:
    return HangOnGenerate()
