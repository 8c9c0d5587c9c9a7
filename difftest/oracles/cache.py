"""Cache and batching oracles: metamorphic pairs of one engine configuration.

Each compares a *baseline* with a *variant* that must produce the same thing: generation with
the KV cache vs full recompute, a cold vs a hot (prefix-reused) cache, whole vs chunked prefill,
a prompt alone vs inside a batch, and a batch vs the same batch reordered.
"""
from __future__ import annotations

import math

from enginebugs.difftest.oracles.base import Verdict
from enginebugs.difftest.oracles.precision import compare_steps, generations_close, scores_as_steps, scores_close
from enginebugs.difftest.protocol import Generation, PromptScores, TopK
from enginebugs.difftest.tolerances import Tolerance

CACHE = "incorrect-cache-management"
#: A row's output handed to another row of the batch: the batch scheduler's bookkeeping.
JOB = "incorrect-job-context-management"


def step_kld(expected: TopK, actual: TopK) -> float:
    """KL(expected || actual) over the expected side's top-k ids plus one bucket for the rest of
    the vocabulary (a coarsening of the full distributions); an id missing from the actual top-k
    gets the actual side's k-th log-probability. 0 for identical steps."""
    theirs = dict(zip(actual.ids, actual.logprobs))
    floor = min(actual.logprobs, default=-math.inf)
    kl = mass_e = mass_a = 0.0
    for tok, lp in zip(expected.ids, expected.logprobs):
        la = theirs.get(tok, floor)
        p_e, p_a = math.exp(lp), math.exp(la)
        kl += p_e * (lp - la)
        mass_e, mass_a = mass_e + p_e, mass_a + p_a
    rest_e, rest_a = 1.0 - mass_e, max(1.0 - mass_a, 1e-30)
    if rest_e > 1e-12:
        kl += rest_e * math.log(rest_e / rest_a)
    return max(kl, 0.0)


def distribution_gate(verdict: Verdict, expected: list[TopK], actual: list[TopK], tol: Tolerance,
                      root_cause: str = CACHE) -> Verdict:
    """Tier 4 for a same-engine pair of generations: mean and max top-k KL divergence over the steps
    both compared, and same-top-1 %, against the pair class's ``kld_mean``, ``kld_p99`` (the max of
    a few dozen steps stands for the 99th percentile) and ``same_top1_min``."""
    n = min(len(expected), len(actual), verdict.metrics.get("steps_compared") or len(expected))
    if not verdict.ok or n == 0 or tol.exact:
        return verdict
    klds = [step_kld(e, a) for e, a in zip(expected[:n], actual[:n])]
    top1 = 100.0 * sum(bool(e.ids and a.ids and e.ids[0] == a.ids[0]) for e, a in zip(expected[:n], actual[:n])) / n
    mean, worst = sum(klds) / n, max(klds)
    verdict.metrics.update(kld_mean=mean, kld_max=worst, same_top1_pct=top1)
    problem = (f"mean top-k KL divergence {mean:.3g} > {tol.kld_mean:g}" if mean > tol.kld_mean else
               f"max top-k KL divergence {worst:.3g} (step {klds.index(worst)}) > {tol.kld_p99:g}" if worst > tol.kld_p99
               else f"same top-1 {top1:.1f} % < {tol.same_top1_min:g} %" if top1 < tol.same_top1_min else "")
    if not problem:
        return verdict
    return Verdict(False, f"{problem} over {n} steps", root_cause, {"index": klds.index(worst)},
                   {**verdict.metrics, "tier": 4})


def _gated(expected: Generation, actual: Generation, tol: Tolerance, root_cause: str = CACHE) -> Verdict:
    """Tiers 1-4 on two generations of one engine configuration."""
    return distribution_gate(generations_close(expected, actual, tol, root_cause), expected.top, actual.top, tol,
                             root_cause)


def _prefixed(verdict: Verdict, prefix: str) -> Verdict:
    if not verdict.ok:
        verdict.message = f"{prefix}: {verdict.message}"
    return verdict


def cached_vs_recompute(generation: Generation, recompute: PromptScores, tol: Tolerance) -> Verdict:
    """A greedy generation (incremental decode over the KV cache) against a full recompute: the
    prompt plus every generated token scored in one teacher-forced pass. Step ``j`` of the
    generation and position ``len(prompt) - 1 + j`` of the recompute saw the same context."""
    start = len(generation.prompt_ids) - 1
    exp_tokens, exp_top = scores_as_steps(recompute, start)
    n = min(len(exp_top), len(generation.token_ids))
    # The generated token, not the recompute's argmax, is what the cache path must agree with.
    verdict = compare_steps(exp_tokens[:n], exp_top[:n], generation.token_ids[:n], generation.top[:n], tol,
                            teacher_forced=True, root_cause=CACHE)
    verdict = distribution_gate(verdict, exp_top[:n], generation.top[:n], tol)
    return _prefixed(verdict, "KV-cached generation vs full recompute")


def cold_vs_hot(cold: Generation, hot: Generation, tol: Tolerance) -> Verdict:
    """The same prompt generated on a fresh cache and again after a call that shares its prefix."""
    return _prefixed(_gated(cold, hot, tol), "cold vs hot prefix cache")


def sequence_call_vs_fresh(fresh: Generation, in_sequence: Generation, call: str, tol: Tolerance) -> Verdict:
    """One call of a prefix-reuse sequence (``call``: ``branch``, the prompt that branches off the
    cached prefix; ``after``, a prompt after another prefix) vs the same prompt on a fresh cache: a
    cache keyed too coarsely corrupts such an intermediate call and may still serve the hot call right."""
    verdict = _prefixed(_gated(fresh, in_sequence, tol), f"{call} call of the reuse sequence vs "
                        "the same prompt on a fresh cache")
    verdict.metrics["sequence_call"] = call
    return verdict


def chunked_vs_whole(whole: PromptScores, chunked: PromptScores, tol: Tolerance) -> Verdict:
    """Prompt scores with the prefill in one piece vs in chunks."""
    return _prefixed(scores_close(whole, chunked, tol, CACHE), "whole vs chunked prefill")


def chunked_generation(whole: Generation, chunked: Generation, tol: Tolerance) -> Verdict:
    return _prefixed(generations_close(whole, chunked, tol, CACHE), "whole vs chunked prefill (generation)")


def _found_at(expected: Generation, rows: list[Generation], skip: int, tol: Tolerance) -> int | None:
    """The row (other than ``skip``) whose output matches ``expected``, if any."""
    return next((r for r, g in enumerate(rows) if r != skip and generations_close(expected, g, tol).ok), None)


def _permuted(verdict: Verdict, row: int, found: int | None) -> Verdict:
    """Where the expected output came back at another row, the rows were permuted, not mixed."""
    if not verdict.ok and found is not None:
        verdict.root_cause = JOB
        verdict.metrics.update(divergence_class="rows-permuted", returned_at_row=found)
        verdict.message = f"row {row}'s output came back at row {found} (rows permuted); {verdict.message}"
    return verdict


def batch_invariance(alone: Generation, in_batch: Generation, position: int, batch_size: int,
                     tol: Tolerance, rows: list[Generation] | None = None) -> Verdict:
    """A "needle" prompt generated alone vs at ``position`` in a batch of ``batch_size`` (``rows``:
    the whole batch, to tell permuted rows from mixed ones)."""
    verdict = _gated(alone, in_batch, tol)
    verdict.metrics.update(position=position, batch_size=batch_size)
    if not verdict.ok and rows:
        verdict = _permuted(verdict, position, _found_at(alone, rows, position, tol))
    return _prefixed(verdict, f"needle alone vs at row {position} of a batch of {batch_size}")


def order_invariance(first: list[Generation], reordered: list[Generation], order: list[int],
                     tol: Tolerance) -> Verdict:
    """``reordered[j]`` is the generation of prompt ``order[j]`` of ``first``'s batch."""
    worst: dict[str, float] = {}
    for j, i in enumerate(order):
        verdict = _gated(first[i], reordered[j], tol)
        for key in ("max_abs_logprob_delta", "kld_mean", "kld_max"):
            if isinstance(verdict.metrics.get(key), float):
                worst[key] = max(worst.get(key, 0.0), verdict.metrics[key])
        if not verdict.ok:
            verdict.metrics.update(row=i, moved_to=j)
            verdict = _permuted(verdict, j, _found_at(first[i], reordered, j, tol))
            return _prefixed(verdict, f"batch row {i} moved to row {j}")
    return Verdict.passed(rows=len(order), **worst)
