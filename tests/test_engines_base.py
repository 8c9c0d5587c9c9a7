"""Shared adapter helpers: log-softmax, top-k with deterministic ties, PromptScores from logits."""
from __future__ import annotations

import numpy as np

from enginebugs.difftest.engines.base import Artifacts, cut_at_eos, log_softmax, scores_from_logits, top_entries


def test_log_softmax_normalises_and_keeps_nan_visible():
    lp = log_softmax(np.array([[1.0, 2.0, 3.0], [0.0, np.nan, 1.0]], np.float32))
    assert abs(float(np.exp(lp[0].astype(np.float64)).sum()) - 1.0) < 1e-6
    assert np.isnan(lp[1]).all()  # a NaN logit must not be hidden by normalisation


def test_top_entries_breaks_ties_by_lower_id_and_sorts_nan_last():
    row = np.array([0.0, 3.0, 3.0, 1.0, 3.0, np.nan, 2.0], np.float32)
    assert top_entries(row, 2).ids == [1, 2]
    assert top_entries(row, 4).ids == [1, 2, 4, 6]
    assert top_entries(row, 10).ids == [1, 2, 4, 6, 3, 0, 5]
    big = np.random.default_rng(0).normal(size=5000).astype(np.float32)
    assert top_entries(big, 7).ids == np.argsort(-big, kind="stable")[:7].tolist()


def test_scores_from_logits_aligns_positions(tmp_path):
    rng = np.random.default_rng(1)
    logits, ids = rng.normal(size=(4, 6)).astype(np.float32), [0, 3, 5, 2]
    scores = scores_from_logits(ids, logits, 3, True, Artifacts(tmp_path))
    lp = log_softmax(logits)
    assert scores.token_logprobs == [float(lp[i, ids[i + 1]]) for i in range(3)]
    assert len(scores.top) == 3 and scores.top[0].ids[0] == int(np.argmax(logits[0]))
    assert np.array_equal(np.load(scores.full_logprobs_file), lp[:3])


def test_cut_at_eos_keeps_the_eos():
    assert cut_at_eos([5, 1, 7], 1) == [5, 1] and cut_at_eos([5, 7], 1) == [5, 7] and cut_at_eos([5], None) == [5]
