"""The vLLM anchors' test cases as procedures: each drives engines (worker clients, or planted-fault
wrappers around them) and judges what they returned with the pure oracles.

HF vs vLLM tiered comparison, prefix cache cold vs hot, chunked vs whole prefill, "needle" batch
invariance, and seeded sampling repeated alone and co-batched with unseeded sampled requests.
Used by ``tests/test_vllm.py`` and ``benchmarks/bench_vllm.py``; they take any engine with
the protocol's methods, so they apply to other engines that offer the same capabilities.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from enginebugs.difftest.engines.vllm_engine import UNSEEDED
from enginebugs.difftest.oracles import cache, precision
from enginebugs.difftest.oracles.base import Verdict
from enginebugs.difftest.oracles.sampling import seeded_reproducible
from enginebugs.difftest.protocol import Generation, PromptScores
from enginebugs.difftest.tolerances import Tolerance
from enginebugs.difftest.worker import full_logprobs


@dataclass
class Recording:
    """One engine's full-logprob scores and greedy generations of a list of prompts."""

    scores: list[PromptScores] = field(default_factory=list)
    full: list[np.ndarray] = field(default_factory=list)
    generations: list[Generation] = field(default_factory=list)


def record(engine: Any, prompt_ids: list[list[int]], new_tokens: int, top_k: int = 10) -> Recording:
    """Score (full vocabulary, read from the worker's file at once) and generate every prompt."""
    rec = Recording()
    for ids in prompt_ids:
        scores = engine.prompt_logprobs(ids, top_k, True)
        rec.scores.append(scores)
        rec.full.append(full_logprobs(scores))
        rec.generations.append(engine.generate(ids, new_tokens, top_k))
    return rec


def tiered(reference: Recording, actual: Recording, prompt_ids: list[list[int]], tol: Tolerance) -> list[Verdict]:
    """Tiers 1-3 on each prompt's generation and scores, then tier 4 over every position."""
    verdicts = []
    for j in range(len(prompt_ids)):
        verdicts.append(precision.generations_close(reference.generations[j], actual.generations[j], tol))
        verdicts.append(precision.scores_close(reference.scores[j], actual.scores[j], tol))
    parts = [precision.position_stats(a, b, ids[1:]) for a, b, ids in zip(reference.full, actual.full, prompt_ids)]
    verdicts.append(precision.distribution_close(precision.summarize(parts), tol))
    return verdicts


def prefix_cold_vs_hot(engine: Any, ids: list[int], tol: Tolerance, new_tokens: int,
                       top_k: int = 10) -> tuple[Verdict, Generation, Generation]:
    """Cold: right after the prefix cache is dropped (where the engine offers
    ``reset_prefix_cache``; check ``cold.cached_prompt_tokens`` where it reports it). Hot: the same
    prompt again, after a call sharing its first 2/3 (the cold call itself cached its full blocks)."""
    shared = 2 * len(ids) // 3
    reset = getattr(engine, "reset_prefix_cache", None)
    if reset is not None:
        reset()
    cold = engine.generate(ids, new_tokens, top_k)
    engine.generate(ids[:shared] + ids[1: len(ids) - shared + 1], 1, top_k)
    hot = engine.generate(ids, new_tokens, top_k)
    return cache.cold_vs_hot(cold, hot, tol), cold, hot


def chunked_vs_whole(whole: Recording, chunked: Any, prompt_ids: list[list[int]], tol: Tolerance,
                     new_tokens: int, top_k: int = 10) -> list[Verdict]:
    """Every prompt's scores from a configuration prefilling in small chunks against ``whole``'s,
    and the first prompt's generation."""
    verdicts = [cache.chunked_vs_whole(whole.scores[j], chunked.prompt_logprobs(ids, top_k), tol)
                for j, ids in enumerate(prompt_ids)]
    verdicts.append(cache.chunked_generation(whole.generations[0], chunked.generate(prompt_ids[0], new_tokens, top_k),
                                             tol))
    return verdicts


def needle(engine: Any, needle_ids: list[int], fillers: list[list[int]], positions: list[int], tol: Tolerance,
           new_tokens: int, top_k: int = 10) -> list[Verdict]:
    """The needle generated alone vs at each of ``positions`` in a batch with ``fillers``."""
    alone = engine.generate_batch([needle_ids], new_tokens, top_k)[0]
    verdicts = []
    for pos in positions:
        rows = fillers[:pos] + [needle_ids] + fillers[pos:]
        verdicts.append(cache.batch_invariance(alone, engine.generate_batch(rows, new_tokens, top_k)[pos], pos,
                                               len(rows), tol))
    return verdicts


def seeded_sampling(engine: Any, ids: list[int], others: list[list[int]], seed: int, tol: Tolerance,
                    new_tokens: int, top_k: int = 10) -> tuple[list[Verdict], Generation]:
    """The seeded sample of ``ids`` against the same seed repeated alone, and co-batched between
    unseeded sampled requests (and a greedy one when there are three or more ``others``)."""
    first = engine.generate(ids, new_tokens, top_k, seed=seed)
    again = engine.generate(ids, new_tokens, top_k, seed=seed)
    neighbours = [UNSEEDED] * len(others)
    if len(others) >= 3:
        neighbours[-1] = None
    batch = others[:1] + [ids] + others[1:]
    seeds = neighbours[:1] + [seed] + neighbours[1:]
    co_batched = engine.generate_batch(batch, new_tokens, top_k, seeds=seeds)[1]
    setting = f"co-batched with {neighbours.count(UNSEEDED)} unseeded sampled and {neighbours.count(None)} greedy requests"
    return [seeded_reproducible(first, again, seed, "repeated alone", tol),
            seeded_reproducible(first, co_batched, seed, setting, tol)], first
