"""Sampling oracles.

``seeded_reproducible``: a request with its own seed must sample the same tokens however often it
is repeated and whatever it is batched with (vLLM's per-request generators; bugs where co-batched
unseeded requests consume the seeded request's random numbers, or the seed is not applied).

``sampling_matches``: an engine's next-token samples under sampler settings (temperature, top-k,
top-p, min-p) against the exact distribution its documented sampler chain gives on the reference's
fp32 log-probabilities (:mod:`.sampler_chain`), by a sequential goodness-of-fit test that stops as
soon as the verdict is certain at the configured error rates (:func:`sequential_test`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from enginebugs.difftest.oracles.base import Verdict, describe, divergence
from enginebugs.difftest.protocol import Generation
from enginebugs.difftest.tolerances import Tolerance

SEED_STATE = "incorrect-job-context-management"


def _drift_before(reference: Generation, other: Generation, until: int) -> float:
    """Largest |delta log-probability| over the tokens both sides rank in their top-k, at steps up
    to and including ``until`` (where both saw the same context)."""
    worst = 0.0
    for a, b in list(zip(reference.top, other.top))[: until + 1]:
        theirs = dict(zip(b.ids, b.logprobs))
        for tok, lp in zip(a.ids, a.logprobs):
            if tok in theirs:
                worst = max(worst, abs(lp - theirs[tok]))
    return worst


def seeded_reproducible(reference: Generation, repeat: Generation, seed: int, setting: str,
                        tol: Tolerance | None = None) -> Verdict:
    """``reference`` and ``repeat`` were sampled from one prompt with one ``seed``; ``setting`` says
    how ``repeat`` differed (``"repeated alone"``, ``"co-batched with 3 unseeded requests"``).
    Their token ids must be identical. Where they are not, the log-probabilities before the split
    tell a seed-handling fault (distributions equal: the random stream changed) from a numerical
    one (distributions already moved beyond ``tol.logprob_atol``, so a draw near a boundary flipped)."""
    if list(reference.prompt_ids) != list(repeat.prompt_ids):
        raise ValueError("seeded_reproducible compares two samples of the same prompt")
    div = divergence(list(reference.token_ids), list(repeat.token_ids))
    if div is None:
        return Verdict.passed(seed=seed, tokens=len(reference.token_ids))
    drift = _drift_before(reference, repeat, div["index"])
    numerical = tol is not None and drift > tol.logprob_atol
    cause = "numerical-issue" if numerical else SEED_STATE
    why = (f"the distributions had already drifted by {drift:.3g} nats" if numerical else
           f"the distributions agreed (max |delta logprob| {drift:.3g}), so the seeded random stream changed")
    return Verdict(False, f"seed {seed} sampled different tokens when {setting}: {describe(div)}; {why}", cause, div,
                   {"seed": seed, "setting": setting, "max_abs_logprob_delta": drift})


# -- the statistical sampling oracle -------------------------------------------------------------
SAMPLER = "incorrect-algorithm-implementation"


@dataclass(frozen=True)
class SequentialPlan:
    """Error rates and budget of the sequential goodness-of-fit test.

    ``alpha``: false alarms (anytime-valid: the mixture likelihood ratio of an agreeing engine
    exceeds ``1/alpha`` with probability at most ``alpha``, however long it is watched); ``beta``:
    accepting a divergent engine. ``concentration`` is the Dirichlet prior's total weight around the
    expected distribution: the alternative is a deviation of about ``sqrt(p / concentration)`` in a
    bin of probability ``p``, and accepting takes a few times ``concentration`` samples. Samples
    come in looks of ``first``, doubling, up to ``budget``; bins of expected count below
    ``min_expected`` at the full budget are pooled into one tail bin."""

    alpha: float = 0.01
    beta: float = 0.05
    concentration: float = 100.0
    first: int = 64
    budget: int = 2048
    min_expected: float = 5.0

    def looks(self) -> list[int]:
        out, n = [], self.first
        while n < self.budget:
            out.append(n)
            n *= 2
        return out + [self.budget]


@dataclass
class Decision:
    verdict: str                 # "agree" | "differ" | "budget" (no decision within the budget: agree)
    samples: int
    log_lr: float
    g_stat: float
    p_value: float
    bins: int
    impossible: int = 0
    impossible_token: int | None = None
    dropped: int = 0


def binning(probs: np.ndarray, boundary: np.ndarray, plan: SequentialPlan) -> tuple[np.ndarray, np.ndarray]:
    """``(bin of every token, expected probability of every bin)``: bin -1 = boundary (dropped),
    bin 0 = impossible (probability 0), then one bin per token of expected count >= ``min_expected``
    at the budget, and one tail bin for the rest of the support. Probabilities are conditioned on
    not being a boundary token."""
    p = np.where(boundary, 0.0, probs)
    total = p.sum()
    p = p / total if total > 0 else p
    bin_of = np.full(len(p), 0, dtype=np.int64)
    bin_of[boundary] = -1
    big = np.flatnonzero(p * plan.budget >= plan.min_expected)
    bin_of[big] = np.arange(1, len(big) + 1)
    tail = (p > 0) & (bin_of == 0)
    expected = [0.0] + [float(p[i]) for i in big]
    if tail.any():
        bin_of[tail] = len(expected)
        expected.append(float(p[tail].sum()))
    return bin_of, np.asarray(expected)


def log_mixture_lr(counts: np.ndarray, expected: np.ndarray, concentration: float) -> float:
    """log of P(counts | Dirichlet(c * expected) mixture) / P(counts | expected), over bins with
    expected probability > 0 (a Dirichlet-multinomial Bayes factor: a nonnegative martingale under
    the expected distribution)."""
    from scipy.special import gammaln

    live = expected > 0
    n, e = counts[live].astype(np.float64), expected[live]
    a = concentration * e
    return float(gammaln(a.sum()) - gammaln(a.sum() + n.sum()) + np.sum(gammaln(a + n) - gammaln(a))
                 - np.sum(n * np.log(e)))


def g_test(counts: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """G statistic and p-value (chi-square, bins with expected probability > 0)."""
    from scipy.stats import chi2

    live = expected > 0
    n = counts[live].astype(np.float64)
    exp_counts = expected[live] * n.sum()
    observed = n > 0
    g = float(2.0 * np.sum(n[observed] * np.log(n[observed] / exp_counts[observed])))
    dof = max(int(live.sum()) - 1, 1)
    return g, float(chi2.sf(g, dof))


def sequential_test(samples: list[int], probs: np.ndarray, boundary: np.ndarray, plan: SequentialPlan) -> Decision:
    """Replay ``samples`` look by look: *differ* as soon as a token of expected probability 0 is
    drawn or the mixture likelihood ratio reaches ``(1 - beta) / alpha``; *agree* as soon as it
    falls to ``beta / (1 - alpha)`` (Wald's bounds); *budget* when the samples run out first.
    The same samples always give the same decision, so the runner stops sampling where this does."""
    bin_of, expected = binning(probs, boundary, plan)
    upper, lower = np.log((1 - plan.beta) / plan.alpha), np.log(plan.beta / (1 - plan.alpha))
    counts, seen, dropped, impossible, first_bad = np.zeros(len(expected), dtype=np.int64), 0, 0, 0, None
    log_lr = 0.0
    for look in plan.looks():
        for tok in samples[seen:look]:
            b = bin_of[tok] if 0 <= tok < len(bin_of) else 0
            if b < 0:
                dropped += 1
                continue
            counts[b] += 1
            if b == 0:
                impossible += 1
                first_bad = tok if first_bad is None else first_bad
        seen = min(look, len(samples))
        log_lr = log_mixture_lr(counts, expected, plan.concentration)
        g, p_value = g_test(counts, expected)
        stats = dict(samples=seen, log_lr=log_lr, g_stat=g, p_value=p_value, bins=int((expected > 0).sum()),
                     impossible=impossible, impossible_token=first_bad, dropped=dropped)
        if impossible or log_lr >= upper:
            return Decision("differ", **stats)
        if log_lr <= lower:
            return Decision("agree", **stats)
        if seen < look:  # ran out of samples before this look
            break
    return Decision("budget", **stats)


def needed(samples: list[int], probs: np.ndarray, boundary: np.ndarray, plan: SequentialPlan) -> int | None:
    """How many samples the test wants next (None: decided, or the budget is spent)."""
    decision = sequential_test(samples, probs, boundary, plan)
    if decision.verdict != "budget" or len(samples) >= plan.budget:
        return None
    return next(n for n in plan.looks() if n > len(samples)) - len(samples)


def sampling_matches(samples: list[int], probs: np.ndarray, boundary: np.ndarray, plan: SequentialPlan,
                     setting: str, chain: tuple[str, ...]) -> Verdict:
    """The engine's next-token samples against the exact distribution of its documented sampler chain."""
    d = sequential_test(samples, probs, boundary, plan)
    metrics = {"setting": setting, "chain": list(chain), **{k: v for k, v in asdict(d).items() if k != "verdict"},
               "decision": d.verdict, "alpha": plan.alpha, "beta": plan.beta}
    if d.verdict != "differ":
        return Verdict(True, metrics=metrics)
    if d.impossible:
        why = (f"drew token {d.impossible_token} {d.impossible} time(s), which the sampler chain "
               f"{' -> '.join(chain)} gives probability 0")
    else:
        why = (f"likelihood ratio e^{d.log_lr:.1f} >= (1-beta)/alpha after {d.samples} samples "
               f"(G = {d.g_stat:.1f}, p = {d.p_value:.2g}, {d.bins} bins)")
    return Verdict(False, f"sampling with {setting}: the samples do not follow the expected distribution: {why}",
                   SAMPLER, None, {**metrics, "divergence_class": "sampler-distribution"})


def seeded_draws_match(first: list[int], again: list[int], seed: int, setting: str) -> Verdict:
    """The same ``sample_next`` request with the same seed twice must draw the same tokens."""
    div = divergence(list(first), list(again))
    if div is None:
        return Verdict.passed(seed=seed, draws=len(first))
    return Verdict(False, f"seed {seed} drew different tokens when repeated ({setting}): {describe(div)}",
                   SEED_STATE, div, {"seed": seed, "setting": setting, "divergence_class": "seed-not-reproducible"})
