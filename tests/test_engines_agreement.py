"""The same weights agree across engines and across each engine's own knobs (cache, chunking,
batching, state save/load) on the tiny model; negative controls show the checks can fail."""
from __future__ import annotations

import pytest

from tests.engine_cases import TEXTS, generation_diff, max_abs_diff

pytestmark = pytest.mark.engines
EXACT = {"type_k": "f32", "type_v": "f32", "flash_attn": False}  # llama.cpp: f32 KV cache, no flash attention
TOL = 1e-4


@pytest.fixture(scope="module")
def reference(tiny_worker):
    hf = tiny_worker("transformers")
    ids = [hf.tokenize(t) for t in TEXTS]
    return ids, [hf.prompt_logprobs(i, top_k=10) for i in ids], [hf.generate(i, 10, top_k=5) for i in ids[:2]]


@pytest.mark.parametrize("engine, options", [("llamacpp", EXACT), ("onnxruntime", {})])
def test_f32_prompt_logprobs_agree_with_transformers(tiny_worker, reference, engine, options):
    worker = tiny_worker(engine, **options)
    ids, ref, _ = reference
    worst = max(max_abs_diff(r, worker.prompt_logprobs(i, top_k=10)) for i, r in zip(ids, ref))
    assert worst < TOL, worst


@pytest.mark.parametrize("engine, options", [("llamacpp", EXACT), ("onnxruntime", {})])
def test_f32_greedy_generation_agrees_with_transformers(tiny_worker, reference, engine, options):
    worker = tiny_worker(engine, **options)
    ids, _, gens = reference
    for i, g in zip(ids, gens):
        assert generation_diff(g, worker.generate(i, 10, top_k=5)) < TOL


@pytest.mark.parametrize("dtype, options, at_least", [
    ("q8_0", EXACT, 1e-2),   # 8-bit weights: far outside the f32 tolerance
    ("f32", {}, 1e-3),       # llama.cpp's default f16 KV cache
])
def test_negative_control_lower_precision_is_flagged(tiny_worker, reference, dtype, options, at_least):
    worker = tiny_worker("llamacpp", dtype, **options)
    ids, ref, _ = reference
    worst = max(max_abs_diff(r, worker.prompt_logprobs(i, top_k=10)) for i, r in zip(ids, ref))
    assert worst > at_least, worst


@pytest.mark.parametrize("engine, plain, variant", [
    ("onnxruntime", {}, {"use_cache": False}),                      # KV path vs full recompute
    ("onnxruntime", {}, {"prefill_chunk": 3}),                      # chunked prefill through the KV path
    ("transformers", {}, {"use_cache": False}),
    ("llamacpp", EXACT, {**EXACT, "n_batch": 4, "n_ubatch": 2}),    # chunked prefill
    ("llamacpp", {**EXACT, "prefix_cache": False}, {**EXACT, "state_roundtrip": True}),
    ("llamacpp", EXACT, {**EXACT, "pickle_roundtrip": True}),         # the engine shipped through pickle
])
def test_engine_knobs_do_not_change_results(tiny_worker, reference, engine, plain, variant):
    a, b = tiny_worker(engine, **plain), tiny_worker(engine, **variant)
    ids = reference[0]
    for i in ids[:3]:
        assert max_abs_diff(a.prompt_logprobs(i), b.prompt_logprobs(i)) < TOL
        assert generation_diff(a.generate(i, 8, top_k=3), b.generate(i, 8, top_k=3)) < TOL


def test_llamacpp_prefix_cache_reuses_across_calls(tiny_worker, reference):
    """Scoring a prompt that shares a prefix with the previous one gives the same numbers as scoring it fresh."""
    cached, fresh = tiny_worker("llamacpp", **EXACT), tiny_worker("llamacpp", **EXACT, prefix_cache=False)
    assert "prefix_reuse" in cached.capabilities and "prefix_reuse" not in fresh.capabilities
    ids = reference[0][1]
    cached.prompt_logprobs(ids)
    variant = ids[:-3] + ids[-2:]
    assert max_abs_diff(cached.prompt_logprobs(variant), fresh.prompt_logprobs(variant)) < TOL
    assert generation_diff(cached.generate(variant, 6), fresh.generate(variant, 6)) < TOL
    assert cached.call("reset_prefix_cache") is True
    assert max_abs_diff(cached.prompt_logprobs(ids), fresh.prompt_logprobs(ids)) < TOL


def test_transformers_bf16_runs_in_its_own_precision_tier(tiny_worker, reference):
    bf16 = tiny_worker("transformers", "bf16")
    assert bf16.fingerprint["weights_dtype"] == "torch.bfloat16"
    ids, ref, _ = reference
    worst = max(max_abs_diff(r, bf16.prompt_logprobs(i, top_k=10)) for i, r in zip(ids[:2], ref[:2]))
    assert 1e-3 < worst < 1.0, worst
