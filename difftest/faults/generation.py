"""Planted generation-control faults: when a generation stops."""
from __future__ import annotations

import dataclasses

from enginebugs.difftest.faults.base import FaultyEngine
from enginebugs.difftest.protocol import Generation


class EarlyStop(FaultyEngine):
    """Stops one token short of ``max_new_tokens`` on prompts of even length (an off-by-one in the
    stop check that depends on the position arithmetic); the tokens it does return are right."""

    name = "early_stop"

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        gen = self.inner.generate(ids, max_new_tokens, top_k, seed)
        if len(ids) % 2 or len(gen.token_ids) < max_new_tokens or not gen.token_ids:
            return gen
        kept = gen.token_ids[:-1]
        return dataclasses.replace(gen, token_ids=kept, top=gen.top[:-1], text=self.inner.detokenize(kept))
