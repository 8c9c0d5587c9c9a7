"""Shared adapter helpers: log-softmax, top-k with deterministic ties, PromptScores from logits."""
from __future__ import annotations

import numpy as np

from enginebugs.difftest.engines.base import cut_at_eos, log_softmax, scores_from_logits, top_entries


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


def test_log_softmax_in_row_chunks_matches_float64_across_chunk_edges():
    rng = np.random.default_rng(2)
    logits = (rng.normal(size=(130, 3000)) * 8).astype(np.float32)  # 130 rows: three chunks
    x = logits.astype(np.float64)
    want = x - x.max(-1, keepdims=True) - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))
    got = log_softmax(logits)
    assert got.dtype == np.float32 and got.shape == logits.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=2e-5)
    np.testing.assert_allclose(log_softmax(logits[5]), want[5], rtol=1e-6, atol=2e-5)  # one row
    assert not np.allclose(log_softmax(logits[::-1]), want, atol=1e-3)  # rows are not mixed up


def test_scores_from_logits_aligns_positions():
    rng = np.random.default_rng(1)
    logits, ids = rng.normal(size=(4, 6)).astype(np.float32), [0, 3, 5, 2]
    scores = scores_from_logits(ids, logits, 3, True)
    lp = log_softmax(logits)
    assert scores.token_logprobs == [float(lp[i, ids[i + 1]]) for i in range(3)]
    assert len(scores.top) == 3 and scores.top[0].ids[0] == int(np.argmax(logits[0]))
    assert scores.full_logprobs_file is None and np.array_equal(scores.full_logprobs, lp[:3])  # in memory
    assert not hasattr(scores_from_logits(ids, logits, 3, False), "full_logprobs")


def test_cut_at_eos_keeps_the_eos():
    assert cut_at_eos([5, 1, 7], 1) == [5, 1] and cut_at_eos([5, 7], 1) == [5, 7] and cut_at_eos([5], None) == [5]
