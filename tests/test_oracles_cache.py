"""Cache, batch and sanity oracles on outputs recorded from the pure-numpy fake engine."""
import math

import pytest

from enginebugs.difftest.oracles.cache import batch_invariance, cached_vs_recompute, chunked_vs_whole, cold_vs_hot, order_invariance
from enginebugs.difftest.oracles.sanity import generation_sane, scores_sane
from enginebugs.difftest.protocol import EngineConfig, Generation, TopK
from enginebugs.difftest.tolerances import load_profile
from tests.fake_engine import FakeEngine, fake_model

SAME = load_profile("default").for_class("same:f32")


def engine(dtype="f32", **options):
    e = FakeEngine()
    e.load(fake_model(), EngineConfig("fake", dtype, options))
    return e


@pytest.fixture(scope="module")
def recorded():
    e = engine()
    ids = e.tokenize("The cache stores the long prompt before noon, because")
    g = e.generate(ids, 10)
    return e, ids, g, e.prompt_logprobs(ids + g.token_ids)


def test_kv_cached_generation_matches_full_recompute(recorded):
    _, _, g, recompute = recorded
    v = cached_vs_recompute(g, recompute, SAME)
    assert v.ok and v.metrics["steps_compared"] == 10


def test_kv_recompute_fires_when_the_cached_path_drifts(recorded):
    _, ids, g, _ = recorded
    other = engine("q8_0").prompt_logprobs(ids + g.token_ids)  # a different numerical path
    v = cached_vs_recompute(g, other, SAME)
    assert not v.ok and v.root_cause == "incorrect-cache-management" and v.message.startswith("KV-cached")


def test_prefix_reuse_hot_equals_cold_on_a_correct_cache(recorded):
    e, ids, _, _ = recorded
    e.generate([ids[0], 99, 98, 97], 1)
    cold = e.generate(ids, 8)
    e.generate(ids[:6] + [50, 51, 52], 1)
    hot = e.generate(ids, 8)  # reuses the first 6 positions
    assert cold_vs_hot(cold, hot, SAME).ok


def test_cold_vs_hot_fires_on_different_outputs(recorded):
    e, ids, g, _ = recorded
    other = e.generate(ids[:-1] + [7], 10)
    v = cold_vs_hot(g, other, SAME)
    assert not v.ok and v.root_cause == "incorrect-cache-management"


def test_chunked_prefill_scores_match_whole(recorded):
    _, ids, _, _ = recorded
    whole = engine().prompt_logprobs(ids)
    chunked = engine(prefill_chunk=3).prompt_logprobs(ids)
    assert chunked_vs_whole(whole, chunked, SAME).ok
    assert not chunked_vs_whole(whole, engine("bf16").prompt_logprobs(ids), load_profile("strict").for_class("same")).ok


def test_batch_and_order_invariance(recorded):
    e, ids, _, _ = recorded
    rows = [ids, ids[:5], [ids[0], 70, 71, 72, 73]]
    batch = e.generate_batch(rows, 6)
    alone = e.generate_batch([ids], 6)
    assert batch_invariance(alone[0], batch[0], 0, 3, SAME).ok
    reordered = e.generate_batch([rows[i] for i in (2, 0, 1)], 6)
    assert order_invariance(batch, reordered, [2, 0, 1], SAME).ok
    v = order_invariance(batch, reordered, [0, 1, 2], SAME)  # wrong mapping: rows do not correspond
    assert not v.ok and v.metrics["row"] == 0
    v = batch_invariance(alone[0], batch[2], 2, 3, SAME)
    assert not v.ok and "row 2 of a batch of 3" in v.message


def test_sanity_accepts_engine_output_and_rejects_broken_numbers(recorded):
    _, _, g, recompute = recorded
    assert scores_sane(recompute, 313).ok and generation_sane(g, 313).ok
    bad = Generation([1], [5], [TopK([5, 6], [-0.1, math.inf])])
    assert scores_sane(recompute, 10).message.startswith("prompt position 0: token id outside")
    v = generation_sane(bad)
    assert not v.ok and v.root_cause == "numerical-issue" and "non-finite" in v.message
    unsorted = Generation([1], [6], [TopK([5, 6], [-2.0, -0.1])])
    assert "not sorted" in generation_sane(unsorted).message
    positive = Generation([1], [5], [TopK([5], [0.5])])
    assert "positive" in generation_sane(positive).message
    not_greedy = Generation([1], [6], [TopK([5, 6], [-0.1, -3.0])])
    assert generation_sane(not_greedy).root_cause == "incorrect-algorithm-implementation"
