"""llama.cpp's own sampler under the statistical sampling oracle: its draws follow the distribution
of its documented chain (top-k, top-p, min-p, then temperature) on the reference's fp32 logits, and
the same oracle rejects them when it expects another order (temperature first, transformers' order):
the oracle has the power to tell sampler chains apart on a real engine."""
from __future__ import annotations

import numpy as np
import pytest

from enginebugs.difftest.oracles import sampler_chain
from enginebugs.difftest.oracles.sampling import SequentialPlan, sampling_matches
from enginebugs.difftest.worker import full_logprobs

pytestmark = [pytest.mark.slow, pytest.mark.engines]
SETTING = sampler_chain.SamplerSettings(temperature=0.6, top_p=0.7)


def _draws(worker, ids: list[int], n: int, seed: int) -> list[int]:
    return worker.sample_next(ids, n, SETTING.to_dict(), seed)


def test_llamacpp_samples_follow_its_own_chain_and_not_another(tiny_worker):
    pytest.importorskip("llama_cpp")
    reference, llama = tiny_worker("transformers"), tiny_worker("llamacpp")
    ids = reference.tokenize("The engine reads every token and the scheduler", True, False)
    logprobs = full_logprobs(reference.prompt_logprobs(ids + [0], 1, True))[-1]
    plan = SequentialPlan()
    draws = _draws(llama, ids, plan.budget, seed=11)
    assert draws == _draws(llama, ids, plan.budget, seed=11)  # seeded: reproducible
    own = sampler_chain.CHAINS["llamacpp"]
    probs, boundary = sampler_chain.next_token_distribution(logprobs, SETTING, own)
    assert sampling_matches(draws, probs, boundary, plan, "t0.6/p0.7", own).ok
    other = sampler_chain.CHAINS["transformers"]
    probs, boundary = sampler_chain.next_token_distribution(logprobs, SETTING, other)
    assert not np.allclose(probs, sampler_chain.next_token_distribution(logprobs, SETTING, own)[0])
    verdict = sampling_matches(draws, probs, boundary, plan, "t0.6/p0.7", other)
    assert not verdict.ok and "do not follow the expected distribution" in verdict.message
