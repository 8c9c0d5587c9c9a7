"""Planted sampling faults."""
from __future__ import annotations

from typing import Any

import numpy as np

from enginebugs.difftest.faults.base import FaultyEngine
from enginebugs.difftest.oracles.sampler_chain import SamplerSettings, next_token_distribution, sample
from enginebugs.difftest.protocol import Generation
from enginebugs.difftest.worker import full_logprobs


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




class TopPBeforeTemperature(FaultyEngine):
    """Applies top-p to the untempered distribution and the temperature afterwards, while the engine
    documents temperature first (a reordered sampler chain): with a temperature below 1 the
    nucleus takes tokens the documented chain cuts off. Settings without top-p, or at temperature
    1, are sampled right."""

    name = "top_p_before_temperature"
    adds = frozenset({"sampling"})
    ORDER = ("top_k", "top_p", "min_p", "temperature")

    def sample_next(self, ids: list[int], n: int, settings: dict[str, Any], seed: int) -> list[int]:
        s = SamplerSettings(**settings)
        if s.top_p >= 1.0 or s.temperature == 1.0:
            return self.inner.sample_next(ids, n, settings, seed)
        scores = self.inner.prompt_logprobs(list(ids) + [0], top_k=1, full=True)
        probs, _ = next_token_distribution(full_logprobs(scores)[-1], s, self.ORDER, margin=0.0)
        return sample(probs, n, np.random.default_rng(seed))
