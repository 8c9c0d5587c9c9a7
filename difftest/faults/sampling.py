"""Planted sampling faults."""
from __future__ import annotations

from typing import Any

from enginebugs.difftest.faults.base import FaultyEngine
from enginebugs.difftest.protocol import Generation


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


