"""Precision tiers on synthetic recorded outputs: each tier passes inside its tolerance and fires
outside it, with the tier, location and candidate root cause in the verdict."""
import math

import numpy as np
import pytest

from enginebugs.difftest.oracles.precision import (compare_steps, distribution_close, generations_close, log_softmax32,
                                        position_stats, scores_close, summarize)
from enginebugs.difftest.protocol import Generation, PromptScores, TopK
from enginebugs.difftest.tolerances import Tolerance

DEFAULT = Tolerance(exact=False, topk=3, logprob_atol=0.01, kld_mean=1e-4, kld_p99=1e-3, same_top1_min=90.0)
STRICT = Tolerance(exact=True, topk=1, logprob_atol=0.0, kld_mean=0.0, kld_p99=0.0, same_top1_min=100.0)


def gen(tokens, tops):
    return Generation([1, 2], list(tokens), [TopK(list(ids), list(lps)) for ids, lps in tops])


TOPS = [([5, 6, 7], [-0.5, -1.0, -2.0]), ([8, 9, 10], [-0.7, -0.8, -3.0]), ([11, 12, 13], [-0.1, -3.0, -4.0])]


def shifted(tops, delta):
    return [(ids, [lp + delta for lp in lps]) for ids, lps in tops]


def test_identical_generations_pass_every_tier_even_strict():
    a = gen([5, 8, 11], TOPS)
    assert generations_close(a, gen([5, 8, 11], TOPS), STRICT).ok


def test_tier1_strict_flags_a_one_ulp_logprob_difference():
    b = gen([5, 8, 11], shifted(TOPS, -1e-7))
    v = generations_close(gen([5, 8, 11], TOPS), b, STRICT)
    assert not v.ok and v.metrics["tier"] == 3 and v.divergence["index"] == 0


def test_tier2_divergence_within_topk_passes_and_stops_comparing():
    # Near tie at step 1: actual picks 9 (expected's #2); afterwards contexts differ, so a wild
    # step 2 is not compared.
    b_tops = [TOPS[0], ([9, 8, 10], [-0.75, -0.75, -3.0]), ([1, 2, 3], [-9.0, -9.5, -10.0])]
    v = generations_close(gen([5, 8, 11], TOPS), gen([5, 9, 1], b_tops), Tolerance(topk=3, logprob_atol=0.1))
    assert v.ok and v.metrics["first_divergence"] == 1 and v.metrics["steps_compared"] == 2


def test_tier2_token_outside_topk_fires_with_location():
    b_tops = [TOPS[0], ([42, 43, 44], [-0.1, -2.0, -3.0]), TOPS[2]]
    v = generations_close(gen([5, 8, 11], TOPS), gen([5, 42, 11], b_tops), DEFAULT, root_cause="mismatched-precision")
    assert not v.ok and v.metrics["tier"] == 2 and v.root_cause == "mismatched-precision"
    assert v.divergence["index"] == 1 and v.divergence["expected"] == 8 and v.divergence["actual"] == 42
    assert "top-3" in v.message


def test_tier3_logprob_delta_over_tolerance_fires_under_it_passes():
    a = gen([5, 8, 11], TOPS)
    assert generations_close(a, gen([5, 8, 11], shifted(TOPS, 0.009)), DEFAULT).ok
    v = generations_close(a, gen([5, 8, 11], shifted(TOPS, 0.02)), DEFAULT)
    assert not v.ok and v.metrics["tier"] == 3 and v.metrics["max_abs_logprob_delta"] == pytest.approx(0.02)


def test_length_difference_fires():
    v = generations_close(gen([5, 8, 11], TOPS), gen([5, 8], TOPS[:2]), DEFAULT)
    assert not v.ok and "lengths differ" in v.message


def test_non_finite_logprob_is_a_numerical_issue():
    bad = [TOPS[0], ([8, 9, 10], [math.nan, -0.8, -3.0]), TOPS[2]]
    v = generations_close(gen([5, 8, 11], TOPS), gen([5, 8, 11], bad), DEFAULT, root_cause="mismatched-precision")
    assert not v.ok and v.root_cause == "numerical-issue"


def scores(ids, token_lps, tops):
    return PromptScores(list(ids), list(token_lps), [TopK(list(i), list(l)) for i, l in tops])


def test_scores_compare_every_position_teacher_forced():
    a = scores([1, 5, 8, 11], [-0.5, -0.7, -0.1], TOPS)
    b_tops = [TOPS[0], ([9, 8, 10], [-0.75, -0.75, -3.0]), TOPS[2]]  # argmax flips at 1, then agree again
    assert scores_close(a, scores([1, 5, 8, 11], [-0.5, -0.75, -0.1], b_tops), Tolerance(topk=3, logprob_atol=0.1)).ok
    v = scores_close(a, scores([1, 5, 8, 11], [-0.5, -0.7, -0.3], shifted(TOPS[:2], 0) + [([11, 12, 13], [-0.3, -3.0, -4.0])]),
                     DEFAULT)
    assert not v.ok and v.divergence["index"] == 2


def test_scores_of_different_ids_are_not_comparable():
    v = scores_close(scores([1, 5], [-1.0], TOPS[:1]), scores([1, 6], [-1.0], TOPS[:1]), DEFAULT)
    assert not v.ok and v.root_cause == "incorrect-request-parsing"


# -- tier 4 -------------------------------------------------------------------------------------
def test_kl_divergence_matches_the_closed_form():
    p = np.log(np.array([[0.5, 0.25, 0.25], [0.9, 0.05, 0.05]], dtype=np.float32))
    q = np.log(np.array([[0.25, 0.5, 0.25], [0.9, 0.05, 0.05]], dtype=np.float32))
    stats = position_stats(p, q, [0, 1])
    expected0 = 0.5 * math.log(2) + 0.25 * math.log(0.5)
    assert stats["kld"][0] == pytest.approx(expected0, rel=1e-5) and stats["kld"][1] == pytest.approx(0, abs=1e-7)
    assert stats["same_top1"].tolist() == [False, True]
    assert stats["delta_p"][0] == pytest.approx(0.25 - 0.5, abs=1e-6)


def test_log_softmax32_renormalises_unnormalised_rows():
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    assert np.exp(log_softmax32(x)).sum() == pytest.approx(1.0, abs=1e-6)


def test_summary_and_thresholds():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 32)).astype(np.float32)
    same = summarize([position_stats(logits, logits, rng.integers(0, 32, 50))])
    assert same["kld"]["mean"] == 0 and same["same_top1_pct"] == 100 and same["positions"] == 50
    assert distribution_close(same, STRICT).ok
    noisy = summarize([position_stats(logits, logits + rng.normal(0, 0.3, logits.shape).astype(np.float32),
                                      rng.integers(0, 32, 50))])
    assert noisy["kld"]["p99"] >= noisy["kld"]["median"] > 0
    v = distribution_close(noisy, DEFAULT, "mismatched-precision")
    assert not v.ok and v.root_cause == "mismatched-precision" and "mean KLD" in v.message
    assert distribution_close(noisy, Tolerance(kld_mean=1.0, kld_p99=10.0, same_top1_min=0.0)).ok
