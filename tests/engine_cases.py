"""Prompts and helpers shared by the engine tests (C1)."""
from __future__ import annotations

import numpy as np

from enginebugs.difftest.protocol import Generation, PromptScores

#: Texts whose tokens are all short (< 32 bytes), covering prose, code, whitespace and multilingual text.
TEXTS = [
    "The engine compares every token slowly, because the cache remembers two numbers.",
    "def load_tokens(tokens, cache=12, *, scale=None):\n    return [t // 3 for t in tokens]\n",
    "Der Zug fährt heute später ab. ¿Cuántos tokens tiene esta frase? Модель читает каждый токен.",
    "Ready 🚀 set 🎯 go ✅ and   some    spaces\n\n\tplus tabs",
    '{"key": -843, "logits": -0.999152, "cache": "its own shadow"}',
]


def max_abs_diff(a: PromptScores, b: PromptScores) -> float:
    """Largest |Δ logprob| over the actual next tokens and the top-k entries both sides list."""
    assert a.token_ids == b.token_ids
    worst = float(np.max(np.abs(np.subtract(a.token_logprobs, b.token_logprobs)))) if a.token_logprobs else 0.0
    for ta, tb in zip(a.top, b.top):
        common = set(ta.ids) & set(tb.ids)
        da, db = dict(zip(ta.ids, ta.logprobs)), dict(zip(tb.ids, tb.logprobs))
        worst = max([worst] + [abs(da[i] - db[i]) for i in common])
    return worst


def generation_diff(a: Generation, b: Generation) -> float:
    """Largest |Δ logprob| of the top-1 entries along two generations with identical tokens."""
    assert a.token_ids == b.token_ids, (a.token_ids, b.token_ids)
    return max((abs(x.logprobs[0] - y.logprobs[0]) for x, y in zip(a.top, b.top)), default=0.0)
