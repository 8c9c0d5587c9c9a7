"""The sampler chains' exact distributions and the sequential goodness-of-fit test."""
import numpy as np
import pytest

from enginebugs.difftest.oracles.sampler_chain import CHAINS, SamplerSettings, chain_of, next_token_distribution, sample
from enginebugs.difftest.oracles.sampling import SequentialPlan, needed, sampling_matches, sequential_test

LP = np.log(np.array([0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.02]))


def test_steps_and_chain_order():
    p, b = next_token_distribution(LP, SamplerSettings(top_k=2))
    assert np.allclose(p[:2], [0.4 / 0.65, 0.25 / 0.65]) and p[2:].sum() == 0 and not b.any()
    p, _ = next_token_distribution(LP, SamplerSettings(top_p=0.75))  # 0.4 + 0.25 < 0.75: the third crosses it
    assert (p > 0).sum() == 3
    p, _ = next_token_distribution(LP, SamplerSettings(min_p=0.3))  # keep p >= 0.12
    assert (p > 0).sum() == 3
    hf, _ = next_token_distribution(LP, SamplerSettings(temperature=0.5, top_p=0.75), CHAINS["transformers"])
    llama, _ = next_token_distribution(LP, SamplerSettings(temperature=0.5, top_p=0.75), CHAINS["llamacpp"])
    assert (hf > 0).sum() == 2 and (llama > 0).sum() == 3  # temperature first sharpens: fewer tokens reach 0.75
    k_hf, _ = next_token_distribution(LP, SamplerSettings(temperature=0.5, top_k=3), CHAINS["transformers"])
    k_llama, _ = next_token_distribution(LP, SamplerSettings(temperature=0.5, top_k=3), CHAINS["llamacpp"])
    assert np.allclose(k_hf, k_llama)  # top-k commutes with temperature
    assert chain_of("llamacpp@0.3.36") == CHAINS["llamacpp"] and chain_of("my_engine") == CHAINS["transformers"]


def test_boundary_tokens():
    tied = np.log(np.array([0.4, 0.2, 0.2, 0.2]))
    _, b = next_token_distribution(tied, SamplerSettings(top_k=2))
    assert b.tolist() == [False, True, True, True]
    _, b = next_token_distribution(LP, SamplerSettings(top_p=0.65))  # 0.4 + 0.25 = 0.65 exactly
    assert b[2]


def test_sequential_test_agrees_rejects_and_replays():
    plan = SequentialPlan()
    wide = np.log(np.random.default_rng(0).dirichlet(np.ones(60)))
    p, b = next_token_distribution(wide, SamplerSettings(temperature=0.8, top_p=0.9))
    same = sample(p, plan.budget, np.random.default_rng(1))
    d = sequential_test(same, p, b, plan)
    assert d.verdict == "agree" and d.samples < plan.budget and d == sequential_test(same, p, b, plan)
    assert needed(same[:64], p, b, plan) in (None, 64)
    wrong, _ = next_token_distribution(wide, SamplerSettings(temperature=0.8, top_p=0.9), CHAINS["llamacpp"])
    bad = sample(wrong, plan.budget, np.random.default_rng(2))
    d = sequential_test(bad, p, b, plan)
    assert d.verdict == "differ" and d.impossible > 0
    shifted = np.roll(p, 1)  # same support size, other tokens: likelihood ratio or impossible tokens
    v = sampling_matches(sample(shifted, plan.budget, np.random.default_rng(3)), p, b, plan, "x", CHAINS["transformers"])
    assert not v.ok and v.root_cause == "incorrect-algorithm-implementation" and v.metrics["samples"] <= plan.budget


@pytest.mark.parametrize("seed", range(3))
def test_false_alarms_are_rare(seed):
    plan = SequentialPlan()
    p, b = next_token_distribution(np.log(np.random.default_rng(seed).dirichlet(np.ones(50))), SamplerSettings(top_k=30))
    alarms = sum(sequential_test(sample(p, plan.budget, np.random.default_rng(100 * seed + t)), p, b, plan).verdict
                 == "differ" for t in range(30))
    assert alarms <= 2
