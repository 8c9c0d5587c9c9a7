"""Oracles: pure functions over recorded engine outputs, each returning a :class:`Verdict`.

``tokenization`` (ids across engines, round trip, decode, streaming), ``precision`` (tiers 1-4),
``cache`` (KV cache vs recompute, prefix reuse, chunked prefill, batch and order invariance),
``sanity`` (one engine's numbers are self-consistent).
"""
from enginebugs.difftest.oracles.base import Verdict, divergence, first_difference

__all__ = ["Verdict", "divergence", "first_difference"]
