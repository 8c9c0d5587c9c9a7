"""The plugin side of the protocol: batch methods never bypass an overridden single-item method,
EngineDefaults' defaults, knob capabilities choosing the pair oracle, wrapper knobs in the CLI."""
import pytest

from enginebugs.difftest.checks import knob_oracle
from enginebugs.difftest.protocol import EngineConfig, EngineDefaults, Unsupported, call_batched, own_batch
from enginebugs.difftest.session import Session
from enginebugs.difftest.worker import bound_method
from tests.fake_engine import FakeEngine


class Parent(EngineDefaults):
    name = "parent"

    def tokenize(self, text, add_special=True, parse_special=False):
        return [len(text)]

    def tokenize_batch(self, texts, add_special=True, parse_special=False):
        return [[len(t)] for t in texts]


class Child(Parent):
    def tokenize(self, text, add_special=True, parse_special=False):
        return [len(text) + 100]


def test_an_inherited_batch_method_never_bypasses_an_overridden_single_method():
    assert own_batch(Parent(), "tokenize_batch") is not None
    assert own_batch(Child(), "tokenize_batch") is None
    assert call_batched(Child(), "tokenize_batch", ["ab", "c"]) == [[102], [101]]
    assert bound_method(Child(), "tokenize_batch")(texts=["ab"]) == [[102]]
    assert call_batched(Parent(), "tokenize_batch", ["ab"]) == [[2]]


def test_engine_defaults():
    class Plain(EngineDefaults):
        name = "plain"

        def tokenize(self, text, add_special=True, parse_special=False):
            return [len(text)]

    engine = Plain()
    assert engine.tokenize_batch(["xyz"]) == [[3]] and engine.fingerprint() == {"engine": "plain"}
    for call in (lambda: engine.generate_batch([[1]], 2, seeds=[1]), engine.reset_prefix_cache,
                 lambda: engine.stream_detokenize([1])):
        with pytest.raises(Unsupported):
            call()
    with pytest.raises(ValueError, match="does not understand option"):
        engine.preflight(None, EngineConfig("plain", "f32", {"x": 1}))


def _session(engine, options, knob_capabilities=None):
    s = Session(EngineConfig(engine, "f32", options), client=None)
    s.knob_capabilities = knob_capabilities or {}
    return s


def test_pair_oracle_from_the_capability_a_knob_exercises():
    base = _session("x", {})
    assert knob_oracle(base, _session("x", {"n_batch": 4})) == "cache.chunked_prefill"
    assert knob_oracle(base, _session("x", {"use_cache": False})) == "cache.use_cache"
    assert knob_oracle(base, _session("x", {"threads": 2})) == "precision.knobs"
    assert knob_oracle(base, _session("x", {"n_batch": 4, "threads": 2})) == "precision.knobs"
    declared = {"slice": "chunked_prefill", "reuse": "prefix_reuse"}
    assert knob_oracle(base, _session("x", {"slice": 8}, declared)) == "cache.chunked_prefill"
    assert knob_oracle(base, _session("x", {"reuse": True}, declared)) == "cache.prefix_reuse"
    assert knob_oracle(base, _session("x", {"n_batch": 4}, declared)) == "precision.knobs"  # not its knob


def test_wrapper_knobs_in_the_cli():
    from enginebugs.difftest.cli import UserError, _engine_for, _knobs_of
    from enginebugs.difftest.runner import parse_config

    known = {"fake": "tests.fake_engine:create", "logit_noise": "enginebugs.difftest.faults:logit_noise",
             "transformers": "x"}
    from enginebugs.difftest.engines import registry
    saved = dict(registry._plugins)
    try:
        registry.register_plugin("tests.fake_engine:create")
        registry.register_plugin("enginebugs.difftest.faults:logit_noise")
        engine, own = _engine_for(parse_config("logit_noise:f32:wraps=fake:sigma=0.01"), known)
        assert isinstance(engine, FakeEngine) and own == {"wraps": "fake", "sigma": 0.1}
        assert _knobs_of(parse_config("logit_noise:f32:wraps=fake"), known) is None  # the fake engine does not say
        knobs = _knobs_of(parse_config("logit_noise:f32:wraps=transformers"), known)
        assert {"sigma", "wraps", "threads"} <= set(knobs)
        with pytest.raises(UserError, match="wraps unknown engine"):
            _engine_for(parse_config("logit_noise:f32:wraps=nosuch"), known)
    finally:
        registry._plugins.clear()
        registry._plugins.update(saved)
