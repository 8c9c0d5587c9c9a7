"""Planted batching faults."""
from __future__ import annotations

import dataclasses
from typing import Any

from enginebugs.difftest.faults.base import FaultyEngine
from enginebugs.difftest.protocol import Generation


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




class RowPermuter(FaultyEngine):
    """Schedules a batch longest prompt first (less padding) and returns the outputs in that order
    instead of the request order: right only when the rows already come longest first."""

    name = "row_permuter"
    adds = frozenset({"batch_generate"})

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10,
                       **extra: Any) -> list[Generation]:
        order = sorted(range(len(batch)), key=lambda r: -len(batch[r]))
        rows = [list(batch[r]) for r in order]
        if "batch_generate" in getattr(self.inner, "capabilities", ()):
            return self.inner.generate_batch(rows, max_new_tokens, top_k, **extra)
        return [self.inner.generate(r, max_new_tokens, top_k) for r in rows]
