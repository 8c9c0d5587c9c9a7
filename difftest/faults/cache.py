"""Planted prefix-cache faults."""
from __future__ import annotations

import dataclasses
from typing import Any

from enginebugs.difftest.faults.base import FaultyEngine
from enginebugs.difftest.protocol import Generation


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




class LengthKeyedPrefixCache(FaultyEngine):
    """A prefix cache keyed by the prompt's length (a hash over too little): a prompt of the same
    length as a cached one but other tokens gets the cached prompt's KV entries for all but its
    last token. The first prompt of each length owns the slot, so repeating that prompt is served
    right: only the call that branches off a shared prefix (same length, other tail) is corrupted."""

    name = "length_keyed_prefix_cache"
    adds = frozenset({"prefix_reuse"})

    def __init__(self, inner: Any | None = None) -> None:
        super().__init__(inner)
        self._slots: dict[int, list[int]] = {}

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        ids = list(ids)
        cached = self._slots.setdefault(len(ids), ids)
        fed = cached[:-1] + ids[-1:] if cached != ids and len(ids) > 1 else ids
        gen = self.inner.generate(fed, max_new_tokens, top_k, seed)
        return dataclasses.replace(gen, prompt_ids=ids)

    def reset_prefix_cache(self) -> bool:
        self._slots.clear()
        reset = getattr(self.inner, "reset_prefix_cache", None)
        return reset() if reset is not None else True


class ErrorAfterPrefixHit(FaultyEngine):
    """Raises the engine's own internal error when a prompt reuses at least 2/3 of the previous
    prompt as its prefix (an assertion in the cache-hit path); a cold or unrelated call works."""

    name = "error_after_prefix_hit"
    adds = frozenset({"prefix_reuse"})

    def __init__(self, inner: Any | None = None) -> None:
        super().__init__(inner)
        self._previous: list[int] = []

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        ids, seen = list(ids), self._previous
        self._previous = ids
        shared = next((i for i, (a, b) in enumerate(zip(seen, ids)) if a != b), min(len(seen), len(ids)))
        if len(ids) >= 4 and shared >= 2 * len(ids) // 3:
            raise RuntimeError(f"cache block table out of sync after reusing {shared} prompt tokens")
        return self.inner.generate(ids, max_new_tokens, top_k, seed)

    def reset_prefix_cache(self) -> bool:
        self._previous = []
        reset = getattr(self.inner, "reset_prefix_cache", None)
        return reset() if reset is not None else True
