"""Self-consistency of one engine's numbers: no reference needed.

Log-probabilities must be finite and <= 0, top-k lists sorted best first with probabilities
summing to at most 1, ids inside the vocabulary, and a greedy step must pick its own top-1.
"""
from __future__ import annotations

import math

from enginebugs.difftest.oracles.base import Verdict
from enginebugs.difftest.protocol import Generation, PromptScores, TopK

SLACK = 1e-3


def _top_problem(top: TopK, vocab_size: int) -> str | None:
    if not top.ids:
        return "empty top-k"
    if len(top.ids) != len(top.logprobs):
        return f"{len(top.ids)} ids but {len(top.logprobs)} log-probabilities"
    bad = [v for v in top.logprobs if not math.isfinite(v)]
    if bad:
        return f"non-finite log-probability {bad[0]}"
    if max(top.logprobs) > SLACK:
        return f"positive log-probability {max(top.logprobs):.4g}"
    if any(b > a + SLACK for a, b in zip(top.logprobs, top.logprobs[1:])):
        return f"top-k not sorted best first: {top.logprobs[:5]}"
    if sum(math.exp(v) for v in top.logprobs) > 1 + SLACK:
        return f"top-k probabilities sum to {sum(math.exp(v) for v in top.logprobs):.4f} > 1"
    if vocab_size and any(not 0 <= i < vocab_size for i in top.ids):
        return f"token id outside the vocabulary of {vocab_size}: {top.ids[:5]}"
    return None


def scores_sane(scores: PromptScores, vocab_size: int = 0) -> Verdict:
    for i, top in enumerate(scores.top):
        problem = _top_problem(top, vocab_size)
        if problem:
            return Verdict(False, f"prompt position {i}: {problem}", "numerical-issue", {"index": i})
    bad = [i for i, v in enumerate(scores.token_logprobs) if not math.isfinite(v) or v > SLACK]
    if bad:
        return Verdict(False, f"prompt position {bad[0]}: scored-token log-probability "
                       f"{scores.token_logprobs[bad[0]]}", "numerical-issue", {"index": bad[0]})
    return Verdict.passed(positions=len(scores.top))


def generation_sane(gen: Generation, vocab_size: int = 0) -> Verdict:
    for i, top in enumerate(gen.top):
        problem = _top_problem(top, vocab_size)
        if problem:
            return Verdict(False, f"generation step {i}: {problem}", "numerical-issue", {"index": i})
        if i < len(gen.token_ids) and gen.token_ids[i] != top.ids[0] and top.logprobs[0] > \
                dict(zip(top.ids, top.logprobs)).get(gen.token_ids[i], -math.inf) + SLACK:
            return Verdict(False, f"greedy step {i} chose token {gen.token_ids[i]} but its top-1 is {top.ids[0]} "
                           f"({top.logprobs[0]:.4g})", "incorrect-algorithm-implementation", {"index": i})
    return Verdict.passed(steps=len(gen.top))
