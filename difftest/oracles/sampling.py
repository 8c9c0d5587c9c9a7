"""Seeded-sampling oracle: a request with its own seed must sample the same tokens however often it
is repeated and whatever it is batched with (vLLM's per-request generators; bugs where co-batched
unseeded requests consume the seeded request's random numbers, or the seed is not applied)."""
from __future__ import annotations

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
