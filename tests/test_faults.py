"""Negative controls: each planted fault, wrapped around the clean fake engine, is flagged by the
oracle that exists for it with the right root cause and component, and by no other oracle family;
in the runs of the other faults the same oracle passes (the control shows it can pass)."""
import pytest

from enginebugs.difftest.faults import FAULTS, LeadingSpaceDropper, StalePrefixCache
from enginebugs.difftest.protocol import EngineConfig, Unsupported
from tests.fake_engine import FakeEngine, fake_model, run_fake

#: fault -> (oracles that must fire, root cause, component)
EXPECTED = {
    "leading_space_dropper": ({"tokenization.ids", "tokenization.round_trip"}, "incorrect-tokenization",
                              "input-processor"),
    "utf8_stream_splitter": ({"tokenization.streaming"}, "incorrect-character-encoding", "output-processor"),
    "stale_prefix_cache": ({"cache.prefix_reuse"}, "incorrect-cache-management", "resource-manager"),
    "length_keyed_prefix_cache": ({"cache.prefix_reuse"}, "incorrect-cache-management", "resource-manager"),
    "row_permuter": ({"batch.needle", "batch.order"}, "incorrect-job-context-management", "job-manager"),
    "early_stop": ({"precision.tokens"}, "incorrect-conditional-logic", "operators"),
    "top_p_before_temperature": ({"sampling.distribution"}, "incorrect-algorithm-implementation", "output-processor"),
    "batch_crosstalk": ({"batch.needle", "batch.order"}, "incorrect-cache-management", "job-manager"),
    "logit_noise": ({"precision.tokens", "precision.logprobs", "precision.kld"}, "numerical-issue", "operators"),
    "special_space_mangler": ({"tokenization.decode"}, "incorrect-detokenization", "output-processor"),
    "generated_text_mangler": ({"tokenization.generated_text"}, "incorrect-detokenization", "output-processor"),
}


@pytest.fixture(scope="module")
def runs():
    return {fault: run_fake(["fake:f32", f"{fault}:f32:wraps=fake"], reference="fake:f32") for fault in EXPECTED}


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_fault_is_flagged_by_its_oracle_only(runs, fault):
    oracles, root_cause, component = EXPECTED[fault]
    result = runs[fault]
    label = f"{fault}:f32[wraps=fake]"
    assert result.exit_code == 1
    assert {f.oracle for f in result.findings} == oracles
    for f in result.findings:
        assert f.configs[-1] == label and f.root_cause == root_cause and f.component == component
        assert f.symptom == "unexpected-output" and f.message and f.prompt is not None or f.oracle == "batch.order"


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_the_same_oracles_pass_on_engines_without_that_fault(runs, fault):
    oracles = EXPECTED[fault][0]
    for other, result in runs.items():
        if other == fault or EXPECTED[other][0] & oracles:  # another fault of the same family
            continue
        passed = {o["oracle"] for o in result.oracles if o["status"] == "pass" and o["configs"][-1].startswith(other)}
        assert oracles <= passed, (fault, other, oracles - passed)


def test_findings_locate_the_fault():
    result = run_fake(["fake:f32", "leading_space_dropper:f32:wraps=fake"], reference="fake:f32")
    ids = next(f for f in result.findings if f.oracle == "tokenization.ids")
    assert ids.prompt.startswith(" ")
    div = ids.first_divergence
    assert div["index"] == 0 and len(div["expected_context"]) <= 11 and div["expected"] != div["actual"]
    assert 1 < ids.occurrences < ids.checks and len(ids.examples) == min(3, ids.occurrences - 1)


def test_stale_prefix_cache_only_misbehaves_on_a_prefix_hit():
    engine = StalePrefixCache(FakeEngine())
    engine.load(fake_model(), EngineConfig("stale_prefix_cache", "f32", {"wraps": "fake"}))
    clean = FakeEngine()
    clean.load(fake_model(), EngineConfig("fake"))
    prompt = clean.tokenize("The cache stores the long prompt before noon")
    other = prompt[:6] + clean.tokenize(" and then something else", add_special=False)
    assert engine.generate(prompt, 6).token_ids == clean.generate(prompt, 6).token_ids  # cold: same
    engine.generate(other, 1)
    assert engine.generate(prompt, 6).token_ids != clean.generate(prompt, 6).token_ids  # hot: stale


def test_leading_space_dropper_in_process():
    engine = LeadingSpaceDropper(FakeEngine())
    engine.load(fake_model(), EngineConfig("leading_space_dropper", "f32", {"wraps": "fake"}))
    assert engine.tokenize(" hello", add_special=False) == engine.tokenize("hello", add_special=False)
    assert engine.tokenize("hello world", add_special=False) == FakeEngine().tokenize("hello world", add_special=False)
    # the batch call goes through the same planted fault
    assert engine.tokenize_batch([" hello", "hello world"], False) == [engine.tokenize("hello", add_special=False),
                                                                       engine.tokenize("hello world", add_special=False)]


def test_faults_keep_the_inner_batch_tokenizer_and_prefix_reset():
    from enginebugs.difftest.faults import BatchCrosstalk, SeedDrift

    class Counting(FakeEngine):
        batches = resets = 0

        def tokenize_batch(self, texts, add_special=True, parse_special=False):
            Counting.batches += 1
            return [self.tokenize(t, add_special, parse_special) for t in texts]

        def reset_prefix_cache(self):
            Counting.resets += 1
            return True

    engine = BatchCrosstalk(Counting())
    engine.load(fake_model(), EngineConfig("batch_crosstalk", "f32", {"wraps": "fake"}))
    assert engine.tokenize_batch(["a", "b"]) == [engine.tokenize("a"), engine.tokenize("b")]
    assert engine.reset_prefix_cache() is True and (Counting.batches, Counting.resets) == (1, 1)
    with pytest.raises(Unsupported):
        SeedDrift(FakeEngine()).reset_prefix_cache()


def test_seed_drift_changes_the_seed_of_each_seeded_request_only():
    from enginebugs.difftest.faults import SeedDrift

    class Recorder:
        capabilities = frozenset()

        def __init__(self):
            self.seeds = []

        def generate(self, ids, max_new_tokens, top_k=10, seed=None):
            self.seeds.append(seed)

        def generate_batch(self, batch, max_new_tokens, top_k=10, seeds=None):
            self.seeds.append(seeds)

    inner = Recorder()
    engine = SeedDrift(inner)
    engine.generate([1], 1, seed=7)
    engine.generate([1], 1, seed=7)
    engine.generate([1], 1)
    engine.generate_batch([[1], [1], [1]], 1, seeds=["unseeded", 7, None])
    assert inner.seeds == [7, 8, None, ["unseeded", 9, None]]


def test_every_fault_is_a_plugin_factory():
    import enginebugs.difftest.faults as faults

    for name, cls in FAULTS.items():
        engine = getattr(faults, name)()
        assert isinstance(engine, cls) and engine.name == name
        for method in ("load", "fingerprint", "tokenize", "detokenize", "prompt_logprobs", "generate"):
            assert callable(getattr(engine, method))


def test_length_keyed_cache_is_caught_on_the_branch_call_only():
    """The old cold-vs-hot comparison passes on this fault; the branch call vs a fresh cache fires."""
    result = run_fake(["fake:f32", "length_keyed_prefix_cache:f32:wraps=fake"], reference="fake:f32")
    f = next(f for f in result.findings if f.oracle == "cache.prefix_reuse")
    assert f.metrics["sequence_call"] == "branch" and "branch call of the reuse sequence" in f.message
    assert all(e["message"].startswith("branch call") for e in f.examples)


def test_attribution_of_length_and_permuted_rows(runs):
    early = runs["early_stop"].findings[0]
    assert early.output_subtype == "length" and early.divergence_class == "length" and "lengths differ" in early.message
    permuted = {f.oracle: f for f in runs["row_permuter"].findings}
    assert all(f.metrics["divergence_class"] == "rows-permuted" for f in permuted.values())
    assert "rows permuted" in permuted["batch.order"].message
    crosstalk = runs["batch_crosstalk"].findings  # mixed rows stay a cache fault
    assert all(f.root_cause == "incorrect-cache-management" for f in crosstalk)


def test_engine_error_after_a_prefix_hit_keeps_the_cache_context():
    result = run_fake(["fake:f32", "error_after_prefix_hit:f32:wraps=fake"], reference="fake:f32")
    assert [f.oracle for f in result.findings] == ["engine.error"]
    f = result.findings[0]
    assert (f.symptom, f.root_cause, f.component) == ("crash", "incorrect-cache-management", "resource-manager")
    assert "prefix.branch" in f.metrics["cache_context"] and "prefix-cache hit" in f.message
    from enginebugs.difftest.results import _failure_finding
    from enginebugs.difftest.session import Failure

    plain = _failure_finding(Failure("error", "x:f32", "x", "generate", "RuntimeError: boom", keys=["gen"]))
    assert plain.root_cause == "incorrect-algorithm-implementation" and "cache_context" not in plain.metrics


def test_sampling_oracle_reports_samples_and_evidence(runs):
    f = runs["top_p_before_temperature"].findings[0]
    assert "top_p=0.8" in f.message and f.metrics["decision"] == "differ"
    assert f.metrics["samples"] <= 2048 and f.metrics["impossible"] > 0  # tokens the documented chain cuts off
    clean = [o for o in runs["logit_noise"].oracles if o["oracle"] == "sampling.distribution"]
    assert clean and all(o["status"] == "pass" for o in clean)
    seeded = [o for o in runs["logit_noise"].oracles if o["oracle"] == "sampling.seeded" and o["status"] == "pass"]
    assert seeded  # the fake engine's sample_next takes a seed: same seed twice, same draws


def test_whole_word_span_eraser_is_flagged_by_the_offsets_oracle_and_a_clean_pair_is_not():
    """Negative control of tokenization.offsets: the same ids with emptied word spans are a
    finding naming the faulty configuration; two clean fake engines agree on every span."""
    from tests.fake_engine import run_fake

    text = "the cache holds ünïcode"
    spans, ids = FakeEngine().token_offsets(text), FakeEngine().tokenize(text, False)
    assert len(spans) == len(ids) and "".join(text[s:e] for s, e in dict.fromkeys(map(tuple, spans))) == text
    faulty = run_fake(["fake:f32", "whole_word_span_eraser:f32:wraps=fake"])
    flagged = [f for f in faulty.findings if f.oracle == "tokenization.offsets"]
    assert flagged and all(f.configs[-1] == "whole_word_span_eraser:f32[wraps=fake]" for f in flagged)
    assert all(f.root_cause == "incorrect-tokenization" for f in flagged)
    assert not {f.oracle for f in faulty.findings} - {"tokenization.offsets"}  # ids, decodes: unchanged
    clean = run_fake(["fake:f32", "logit_noise:f32:wraps=fake"])  # another engine, the same tokenizer
    assert not [f for f in clean.findings if f.oracle == "tokenization.offsets"]
    checked = [g for g in clean.oracles if g["oracle"] == "tokenization.offsets"]
    assert checked and sum(g["passed"] for g in checked) > 10 and not any(g["failed"] for g in checked)
