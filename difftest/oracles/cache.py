"""Cache and batching oracles: metamorphic pairs of one engine configuration.

Each compares a *baseline* with a *variant* that must produce the same thing: generation with
the KV cache vs full recompute, a cold vs a hot (prefix-reused) cache, whole vs chunked prefill,
a prompt alone vs inside a batch, and a batch vs the same batch reordered.
"""
from __future__ import annotations

from enginebugs.difftest.oracles.base import Verdict
from enginebugs.difftest.oracles.precision import compare_steps, generations_close, scores_as_steps, scores_close
from enginebugs.difftest.protocol import Generation, PromptScores
from enginebugs.difftest.tolerances import Tolerance

CACHE = "incorrect-cache-management"
#: A row's output handed to another row of the batch: the batch scheduler's bookkeeping.
JOB = "incorrect-job-context-management"


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
    return _prefixed(verdict, "KV-cached generation vs full recompute")


def cold_vs_hot(cold: Generation, hot: Generation, tol: Tolerance) -> Verdict:
    """The same prompt generated on a fresh cache and again after a call that shares its prefix."""
    return _prefixed(generations_close(cold, hot, tol, CACHE), "cold vs hot prefix cache")


def sequence_call_vs_fresh(fresh: Generation, in_sequence: Generation, call: str, tol: Tolerance) -> Verdict:
    """One call of a prefix-reuse sequence (``call``: ``branch``, the prompt that branches off the
    cached prefix; ``after``, a prompt after another prefix) vs the same prompt on a fresh cache: a
    cache keyed too coarsely corrupts such an intermediate call and may still serve the hot call right."""
    verdict = _prefixed(generations_close(fresh, in_sequence, tol, CACHE), f"{call} call of the reuse sequence vs "
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
    verdict = generations_close(alone, in_batch, tol, CACHE)
    verdict.metrics.update(position=position, batch_size=batch_size)
    if not verdict.ok and rows:
        verdict = _permuted(verdict, position, _found_at(alone, rows, position, tol))
    return _prefixed(verdict, f"needle alone vs at row {position} of a batch of {batch_size}")


def order_invariance(first: list[Generation], reordered: list[Generation], order: list[int],
                     tol: Tolerance) -> Verdict:
    """``reordered[j]`` is the generation of prompt ``order[j]`` of ``first``'s batch."""
    for j, i in enumerate(order):
        verdict = generations_close(first[i], reordered[j], tol, CACHE)
        if not verdict.ok:
            verdict.metrics.update(row=i, moved_to=j)
            verdict = _permuted(verdict, j, _found_at(first[i], reordered, j, tol))
            return _prefixed(verdict, f"batch row {i} moved to row {j}")
    return Verdict.passed(rows=len(order))
