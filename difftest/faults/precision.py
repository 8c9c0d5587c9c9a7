"""Planted numerical faults."""
from __future__ import annotations

import dataclasses
import zlib
from typing import Any

import numpy as np

from enginebugs.difftest.faults.base import FaultyEngine
from enginebugs.difftest.protocol import EngineConfig, Generation, ModelSpec, PromptScores, TopK
from enginebugs.difftest.worker import full_logprobs


class LogitNoise(FaultyEngine):
    """Subtracts ``sigma * |z|`` (knob ``sigma``, default ``SIGMA``) from every log-probability, ``z`` drawn from a generator seeded
    by the context, so the same context always gets the same noise (cache and batch oracles stay
    quiet; only comparisons with another engine see it)."""

    name = "logit_noise"
    SIGMA = 0.1
    option_defaults = {"sigma": SIGMA}

    def _noise(self, context: list[int], vocab: int) -> np.ndarray:
        seed = zlib.crc32(np.asarray(context, dtype=np.int64).tobytes())
        return -float(self.options["sigma"]) * np.abs(np.random.default_rng(seed).standard_normal(vocab))

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
        noisy = PromptScores(list(ids), token_lps, tops)
        array = full_logprobs(scores)  # in memory from a worker, or the .npy an in-process engine wrote
        if array is not None:
            full_lp = np.array(array, dtype=np.float32, copy=True)
            for i in range(len(full_lp)):
                full_lp[i] += self._noise(list(ids[: i + 1]), max(full_lp.shape[1], self._vocab()))[: full_lp.shape[1]]
            noisy.full_logprobs = full_lp
        return noisy

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        gen = self.inner.generate(ids, max_new_tokens, top_k, seed)
        context = list(ids)
        tops = []
        for token, top in zip(gen.token_ids, gen.top):
            tops.append(self._noisy_top(top, context))
            context.append(token)
        return dataclasses.replace(gen, top=tops)




class PathNoise(FaultyEngine):
    """Lowers the top-1 log-probability by ``delta`` (knob, nats) on one code path only (knob
    ``path``): ``decode`` the steps served from the KV cache (every generated step after the
    first), ``batch`` every row of a batch but the first, ``hot`` a generation whose prompt reuses
    at least 2/3 of the previous prompt. The calibrated negative control: a shift of 10x the
    measured noise floor on the path a same-engine oracle guards."""

    name = "path_noise"
    option_defaults = {"path": "decode", "delta": 1e-4}
    PATHS = ("decode", "batch", "hot")

    def __init__(self, inner: Any | None = None) -> None:
        super().__init__(inner)
        self._previous: list[int] = []

    def load(self, model: ModelSpec, config: EngineConfig) -> None:
        super().load(model, config)
        if self.options["path"] not in self.PATHS:
            raise ValueError(f"path must be one of {', '.join(self.PATHS)}, not {self.options['path']!r}")

    def _shift(self, gen: Generation, first: int = 0) -> Generation:
        delta = float(self.options["delta"])
        tops = [t if i < first or not t.ids else TopK(t.ids, [t.logprobs[0] - delta] + t.logprobs[1:])
                for i, t in enumerate(gen.top)]
        return dataclasses.replace(gen, top=tops)

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        ids, seen = list(ids), self._previous
        self._previous = ids
        gen = self.inner.generate(ids, max_new_tokens, top_k, seed)
        shared = next((i for i, (a, b) in enumerate(zip(seen, ids)) if a != b), min(len(seen), len(ids)))
        if self.options["path"] == "decode":
            return self._shift(gen, first=1)
        if self.options["path"] == "hot" and len(ids) >= 4 and shared >= 2 * len(ids) // 3:
            return self._shift(gen)
        return gen

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10,
                       **extra: Any) -> list[Generation]:
        out = self.inner.generate_batch(batch, max_new_tokens, top_k, **extra)
        return [self._shift(g) if r and self.options["path"] == "batch" else g for r, g in enumerate(out)]

    def reset_prefix_cache(self) -> bool:
        self._previous = []
        reset = getattr(self.inner, "reset_prefix_cache", None)
        return reset() if reset is not None else True
