"""The vLLM adapter without vLLM: option mapping, result conversion, the skip reason when the
environment is missing, and the seeded-sampling oracle on hand-made generations."""
from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from enginebugs.difftest.engines import vllm_engine
from enginebugs.difftest.engines.vllm_engine import VllmEngine, worker_python
from enginebugs.difftest.oracles.sampling import seeded_reproducible
from enginebugs.difftest.protocol import EngineConfig, Generation, ModelSpec, TopK, Unsupported
from enginebugs.difftest.tolerances import Tolerance

MODEL = ModelSpec("tiny", {"hf": "/models/tiny-hf"}, context_length=512)


def engine_args(dtype: str = "f32", on_cpu: bool = True, **options) -> dict:
    engine = VllmEngine()
    engine._begin_load(MODEL, EngineConfig("vllm", dtype, options))
    return engine.build_engine_args(on_cpu)


def test_engine_args_keep_vllm_defaults_unless_an_option_is_given():
    args = engine_args()
    assert args["model"] == "/models/tiny-hf" and args["dtype"] == "float32" and args["max_model_len"] == 512
    assert args["block_size"] == vllm_engine.CPU_BLOCK_SIZE and args["logprobs_mode"] == "raw_logprobs"
    for untouched in ("enable_prefix_caching", "enable_chunked_prefill", "max_num_seqs", "max_num_batched_tokens",
                      "gpu_memory_utilization"):
        assert untouched not in args


def test_engine_args_follow_the_options():
    args = engine_args("bf16", enable_prefix_caching=False, max_num_batched_tokens=16, max_num_seqs=2)
    assert (args["dtype"], args["enable_prefix_caching"], args["max_num_batched_tokens"], args["max_num_seqs"]) == \
        ("bfloat16", False, 16, 2)
    # Chunked prefill off: one step must hold a whole prompt.
    assert engine_args(enable_chunked_prefill=False)["max_num_batched_tokens"] == 512
    gpu = engine_args(on_cpu=False)
    assert "block_size" not in gpu and gpu["gpu_memory_utilization"] == 0.3


def test_unusable_configurations_are_refused_with_the_reason():
    with pytest.raises(Unsupported, match="q8_0"):
        engine_args("q8_0")
    with pytest.raises(Unsupported, match="Triton"):
        engine_args(batch_invariant=True)
    assert engine_args(on_cpu=False, batch_invariant=True)  # a GPU build may offer it
    with pytest.raises(ValueError, match="does not understand option.*use_cache"):
        engine_args(use_cache=False)


def test_top_k_conversion_orders_by_rank_and_drops_the_sampled_token_outside_the_top_k():
    lp = lambda value, rank: SimpleNamespace(logprob=value, rank=rank)  # noqa: E731
    entry = {7: lp(-0.5, 1), 3: lp(-1.0, 2), 9: lp(-6.0, 40), 4: lp(-1.5, 3)}
    assert vllm_engine._top(entry, 3) == TopK([7, 3, 4], [-0.5, -1.0, -1.5])
    assert vllm_engine._top(entry, 2) == TopK([7, 3], [-0.5, -1.0])
    assert vllm_engine._top(None, 3) == TopK([], [])


def test_worker_python_explains_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv(vllm_engine.PYTHON_ENV_VAR, str(tmp_path / "nope" / "python"))
    assert worker_python() == (None, f"{vllm_engine.PYTHON_ENV_VAR}={tmp_path / 'nope' / 'python'} is not an "
                                     "executable interpreter")
    monkeypatch.setenv(vllm_engine.PYTHON_ENV_VAR, sys.executable)
    assert worker_python() == (sys.executable, "")
    monkeypatch.delenv(vllm_engine.PYTHON_ENV_VAR)
    monkeypatch.setattr(vllm_engine, "VENV", tmp_path / "no-venv")
    monkeypatch.setattr(vllm_engine.importlib.util, "find_spec", lambda name: None)
    python, why = worker_python()
    assert python is None and "make vllm-env" in why and "does not exist" in why


def test_load_without_vllm_is_unsupported_with_the_build_command(monkeypatch):
    monkeypatch.setattr(vllm_engine, "vllm_distribution", lambda: None)
    with pytest.raises(Unsupported, match="make vllm-env"):
        VllmEngine().load(MODEL, EngineConfig("vllm"))


# -- the seeded-sampling oracle ---------------------------------------------------------------------
def sample(tokens: list[int], shift: float = 0.0) -> Generation:
    return Generation([1, 2, 3], tokens, [TopK([t, 99], [-1.0 + shift, -2.0 + shift]) for t in tokens])


def test_seeded_oracle_passes_identical_samples():
    verdict = seeded_reproducible(sample([5, 6, 7]), sample([5, 6, 7]), 11, "repeated alone")
    assert verdict.ok and verdict.metrics["tokens"] == 3


def test_seeded_oracle_flags_a_changed_random_stream_as_seed_handling():
    verdict = seeded_reproducible(sample([5, 6, 7]), sample([5, 8, 7]), 11, "co-batched with 2 unseeded requests",
                                  Tolerance(logprob_atol=1e-3))
    assert not verdict.ok and verdict.root_cause == "incorrect-job-context-management"
    assert verdict.divergence["index"] == 1 and "seed 11" in verdict.message and "co-batched" in verdict.message


def test_seeded_oracle_blames_numerics_when_the_distributions_had_drifted():
    verdict = seeded_reproducible(sample([5, 6, 7]), sample([5, 8, 7], shift=0.2), 11, "co-batched",
                                  Tolerance(logprob_atol=1e-3))
    assert not verdict.ok and verdict.root_cause == "numerical-issue" and verdict.metrics["max_abs_logprob_delta"] > 0.1


def test_seeded_oracle_refuses_samples_of_different_prompts():
    with pytest.raises(ValueError):
        seeded_reproducible(sample([5]), Generation([1, 2], [5], [TopK([5], [-1.0])]), 1, "repeated alone")
