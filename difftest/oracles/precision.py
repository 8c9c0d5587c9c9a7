"""Precision oracles, tiered the way the anchors do it.

1. exact token ids (and, under an ``exact`` tolerance, bitwise-equal log-probabilities);
2. at the first divergent token each side's token is within the other's top-k (vLLM's rule);
3. per-position |delta log-probability| under the pair's tolerance;
4. distribution statistics over every position: mean/median/p99/max KL divergence, same-top-1 %,
   delta-p percentiles (llama.cpp ``perplexity --kl-divergence``), from full fp32 log-softmax.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from enginebugs.difftest.oracles.base import Verdict, describe, divergence
from enginebugs.difftest.protocol import Generation, PromptScores, TopK
from enginebugs.difftest.tolerances import Tolerance

#: Root cause of a generation that stops early or late with the same tokens as far as both go.
STOP_LOGIC = "incorrect-conditional-logic"
PERCENTILES = (99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0)


def _top_map(top: TopK) -> dict[int, float]:
    return dict(zip(top.ids, top.logprobs))


def _finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def compare_steps(expected_tokens: Sequence[int], expected_top: Sequence[TopK], actual_tokens: Sequence[int],
                  actual_top: Sequence[TopK], tol: Tolerance, *, teacher_forced: bool = False,
                  root_cause: str = "numerical-issue") -> Verdict:
    """Step-by-step comparison of two token streams with their top-k log-probabilities.

    With ``teacher_forced`` both sides saw the same context at every step (prompt scoring, a
    generation re-scored by full recompute), so every step is compared; otherwise the comparison
    stops at the first divergent token, whose contexts differ from then on (vLLM's rule).
    """
    div = divergence(list(expected_tokens), list(actual_tokens))
    worst, first_over, steps = 0.0, None, 0
    first_index = div["index"] if div else None
    n = min(len(expected_tokens), len(actual_tokens), len(expected_top), len(actual_top))
    for i in range(n):
        e_tok, a_tok = expected_tokens[i], actual_tokens[i]
        e_map, a_map = _top_map(expected_top[i]), _top_map(actual_top[i])
        if not (_finite(e_map.values()) and _finite(a_map.values())):
            return Verdict(False, f"non-finite log-probability at step {i}: expected top {expected_top[i].logprobs[:3]}, "
                           f"got {actual_top[i].logprobs[:3]}", "numerical-issue", div or {"index": i},
                           {"first_divergence": first_index})
        if e_tok != a_tok:
            k = tol.topk
            if a_tok not in expected_top[i].ids[:k] or e_tok not in actual_top[i].ids[:k]:
                return Verdict(False, f"step {i}: token {a_tok} vs expected {e_tok} and they are not in each "
                               f"other's top-{k} (expected top {expected_top[i].ids[:k]}, got top "
                               f"{actual_top[i].ids[:k]}); {describe(div)}", root_cause, div,
                               {"first_divergence": first_index, "tier": 2})
        for tok in e_map.keys() & a_map.keys():
            delta = abs(e_map[tok] - a_map[tok])
            worst = max(worst, delta)
            if delta > tol.logprob_atol and first_over is None:
                first_over = (i, tok, delta)
        steps += 1
        if e_tok != a_tok and not teacher_forced:
            break
    metrics = {"first_divergence": first_index, "max_abs_logprob_delta": worst, "steps_compared": steps,
               "exact_tokens": div is None}
    if first_over is not None:
        i, tok, delta = first_over
        return Verdict(False, f"step {i}: |delta logprob| of token {tok} = {delta:.3g} > {tol.logprob_atol:g} "
                       f"(expected {_top_map(expected_top[i])[tok]:.6g}, got {_top_map(actual_top[i])[tok]:.6g}; "
                       f"worst {worst:.3g})", root_cause, {**(div or {}), "index": i, "token": tok},
                       {**metrics, "tier": 3})
    if tol.exact and div is not None:
        return Verdict(False, f"tokens differ under an exact tolerance: {describe(div)}", root_cause, div,
                       {**metrics, "tier": 1})
    if div is not None and div["index"] >= n and not teacher_forced:
        # Same tokens as far as both go, and one side stopped without choosing EOS there: the stop
        # condition (max_new_tokens, stop checks), not the numbers.
        return Verdict(False, f"lengths differ: expected {len(expected_tokens)} tokens, got {len(actual_tokens)}; "
                       f"{describe(div)}", STOP_LOGIC, div, {**metrics, "tier": 1, "divergence_class": "length"},
                       subtype="length")
    return Verdict(True, metrics=metrics)


def generations_close(expected: Generation, actual: Generation, tol: Tolerance,
                      root_cause: str = "numerical-issue") -> Verdict:
    """Tiers 1-3 on two greedy generations of the same prompt."""
    return compare_steps(expected.token_ids, expected.top, actual.token_ids, actual.top, tol, root_cause=root_cause)


def scores_as_steps(scores: PromptScores, start: int = 0) -> tuple[list[int], list[TopK]]:
    """Positions ``start..`` of prompt scores as (argmax token, top-k) steps."""
    tops = scores.top[start:]
    return [t.ids[0] if t.ids else -1 for t in tops], list(tops)


def scores_close(expected: PromptScores, actual: PromptScores, tol: Tolerance,
                 root_cause: str = "numerical-issue") -> Verdict:
    """Tiers 2-3 on two teacher-forced scorings of the same ids, plus the scored token's
    log-probability at every position."""
    if list(expected.token_ids) != list(actual.token_ids):
        div = divergence(list(expected.token_ids), list(actual.token_ids))
        return Verdict(False, f"scored different ids: {describe(div)}", "incorrect-request-parsing", div)
    e_tok, e_top = scores_as_steps(expected)
    a_tok, a_top = scores_as_steps(actual)
    verdict = compare_steps(e_tok, e_top, a_tok, a_top, tol, teacher_forced=True, root_cause=root_cause)
    if not verdict.ok:
        return verdict
    deltas = [abs(x - y) for x, y in zip(expected.token_logprobs, actual.token_logprobs)]
    if not _finite(actual.token_logprobs):
        bad = next(i for i, v in enumerate(actual.token_logprobs) if not math.isfinite(v))
        return Verdict(False, f"position {bad}: non-finite log-probability {actual.token_logprobs[bad]}",
                       "numerical-issue", {"index": bad}, verdict.metrics)
    worst = max(deltas, default=0.0)
    metrics = {**verdict.metrics, "max_abs_logprob_delta": max(worst, verdict.metrics["max_abs_logprob_delta"])}
    if worst > tol.logprob_atol:
        i = next(k for k, d in enumerate(deltas) if d > tol.logprob_atol)
        return Verdict(False, f"position {i} (token {expected.token_ids[i + 1]}): |delta logprob| = {deltas[i]:.3g} > "
                       f"{tol.logprob_atol:g} (expected {expected.token_logprobs[i]:.6g}, got "
                       f"{actual.token_logprobs[i]:.6g}; worst {worst:.3g})", root_cause, {"index": i},
                       {**metrics, "tier": 3})
    return Verdict(True, metrics=metrics)


# -- tier 4: distribution statistics --------------------------------------------------------------
def log_softmax32(logprobs: np.ndarray) -> np.ndarray:
    """Re-normalised log-softmax in fp32 (engines may return bf16-rounded or unnormalised rows)."""
    x = np.asarray(logprobs, dtype=np.float32)
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True, dtype=np.float32))


@dataclass(frozen=True)
class ReferenceRows:
    """The expected side of :func:`position_stats` normalised once, for several actual sides."""

    lp: np.ndarray
    p: np.ndarray
    top1: np.ndarray

    @classmethod
    def of(cls, expected: np.ndarray) -> "ReferenceRows":
        lp = log_softmax32(expected)
        return cls(lp, np.exp(lp), np.argmax(lp, axis=-1))


def position_stats(expected: np.ndarray, actual: np.ndarray, next_ids: Sequence[int],
                   reference: ReferenceRows | None = None) -> dict[str, np.ndarray]:
    """Per-position KL(expected || actual), top-1 agreement and delta-p of the scored token
    (``reference``: ``ReferenceRows.of(expected)`` when the caller already has it)."""
    if expected.shape != actual.shape:
        raise ValueError(f"full log-probabilities differ in shape: {expected.shape} vs {actual.shape}")
    ref = reference if reference is not None else ReferenceRows.of(expected)
    lp_a = log_softmax32(actual)
    kld = np.sum(ref.p * (ref.lp - lp_a), axis=-1, dtype=np.float64)
    idx = np.asarray(next_ids[: len(lp_a)], dtype=np.int64)
    rows = np.arange(len(idx))
    delta_p = np.exp(lp_a[rows, idx]).astype(np.float64) - ref.p[rows, idx].astype(np.float64)
    same = ref.top1 == np.argmax(lp_a, axis=-1)
    return {"kld": kld, "same_top1": same, "delta_p": delta_p}


def summarize(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, Any]:
    """llama.cpp-style summary over every position of every prompt."""
    if not parts:
        return {"positions": 0}
    kld = np.concatenate([p["kld"] for p in parts])
    same = np.concatenate([p["same_top1"] for p in parts]).astype(np.float64)
    dp = np.concatenate([p["delta_p"] for p in parts])
    n = len(kld)
    err = lambda v: float(np.std(v, ddof=1) / math.sqrt(n)) if n > 1 else 0.0  # noqa: E731
    pct = lambda v: {f"p{q:g}": float(np.percentile(v, q)) for q in PERCENTILES}  # noqa: E731
    return {
        "positions": n,
        "kld": {"mean": float(kld.mean()), "mean_err": err(kld), "max": float(kld.max()),
                "min": float(kld.min()), "median": float(np.median(kld)), **pct(kld)},
        "same_top1_pct": float(100 * same.mean()), "same_top1_err": 100 * err(same),
        "delta_p": {"mean": float(dp.mean()), "mean_err": err(dp), "rms": float(np.sqrt(np.mean(dp ** 2))),
                    "max": float(dp.max()), "min": float(dp.min()), "median": float(np.median(dp)), **pct(dp)},
    }


def distribution_close(summary: dict[str, Any], tol: Tolerance, root_cause: str = "numerical-issue") -> Verdict:
    """Tier 4 thresholds on a :func:`summarize` result."""
    if not summary.get("positions"):
        return Verdict.passed(**summary)
    kld = summary["kld"]
    problems = []
    if not math.isfinite(kld["mean"]):
        problems.append(f"mean KLD is {kld['mean']}")
        root_cause = "numerical-issue"
    if kld["mean"] > tol.kld_mean:
        problems.append(f"mean KLD {kld['mean']:.3g} > {tol.kld_mean:g}")
    if kld["p99"] > tol.kld_p99:
        problems.append(f"p99 KLD {kld['p99']:.3g} > {tol.kld_p99:g}")
    if summary["same_top1_pct"] < tol.same_top1_min:
        problems.append(f"same top-1 {summary['same_top1_pct']:.2f}% < {tol.same_top1_min:g}%")
    if problems:
        return Verdict(False, "; ".join(problems) + f" over {summary['positions']} positions", root_cause,
                       None, summary)
    return Verdict(True, metrics=summary)
