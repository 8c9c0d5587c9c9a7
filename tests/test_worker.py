"""The worker subprocess and its client: round trip, crash, hang, engine errors, plugins."""
from __future__ import annotations

import json
import time

import pytest

from enginebugs.difftest.engines import registry
from enginebugs.difftest.protocol import EngineConfig, ModelSpec, PromptScores, Unsupported
from enginebugs.difftest.worker import EngineError, WorkerClient, WorkerCrashed, WorkerTimeout
from tests.worker_plugins import MARKER

PLUGIN = "tests.worker_plugins:create"
MODEL = ModelSpec("none", {})


def planted(timeout_s: float = 30, **options) -> WorkerClient:
    return WorkerClient("planted-failures", MODEL, EngineConfig("planted-failures", options=options),
                        plugins=[PLUGIN], timeout_s=timeout_s)


def test_round_trip_rebuilds_results_and_keeps_prints_off_the_protocol():
    with planted() as w:
        assert w.capabilities == frozenset({"tokenize", "detokenize", "prompt_logprobs", "generate", "batch_generate"})
        assert w.fingerprint["engine"] == "planted-failures"
        assert w.tokenize("ab", add_special=False) == [97, 98]
        assert w.call("tokenize", text="é") == [0, 233]
        # an engine without tokenize_batch: the worker tokenizes each text in one round trip
        assert w.tokenize_batch(["ab", "é"], False) == [[97, 98], [233]]
        assert w.tokenize_batch(["é"]) == [[0, 233]]
        scores = w.prompt_logprobs([5, 6, 7], full=True)
        assert isinstance(scores, PromptScores) and scores.top[1].ids == [1]
        assert "tokenize called" in w.stderr_tail
        assert w.alive


def test_unsupported_and_engine_errors_come_back_and_the_worker_survives():
    with planted() as w:
        with pytest.raises(Unsupported, match="no streaming detokenizer"):
            w.stream_detokenize([1])
        with pytest.raises(EngineError) as err:
            w.generate_batch([[1]], 2)
        assert err.value.type == "ValueError" and "generate_batch" in err.value.traceback
        assert w.tokenize("x", add_special=False) == [120]


def test_abort_is_a_crash_with_stderr_tail():
    w = planted()
    w.start()
    with pytest.raises(WorkerCrashed) as err:
        w.prompt_logprobs([1, 2])
    assert err.value.returncode == -6  # SIGABRT
    assert f"{MARKER}: aborting" in err.value.stderr_tail
    assert not w.alive
    with pytest.raises(WorkerCrashed):  # later calls fail fast with the same crash
        w.tokenize("a")
    w.close()


def test_exit_is_a_crash_with_status():
    with planted() as w:
        with pytest.raises(WorkerCrashed) as err:
            w.detokenize([1])
    assert err.value.returncode == 7 and "exited with status 7" in str(err.value)
    assert f"{MARKER}: exiting" in err.value.stderr_tail


def test_hang_is_a_timeout_within_the_limit():
    w = planted(timeout_s=2)
    w.start()
    t0 = time.monotonic()
    with pytest.raises(WorkerTimeout) as err:
        w.generate([1], 4)
    elapsed = time.monotonic() - t0
    assert 1.9 <= elapsed < 8, elapsed
    assert f"{MARKER}: hanging" in err.value.stderr_tail
    assert w.proc.poll() is not None  # the hung worker was killed
    w.close()


def test_load_failure_raises_engine_error_and_stops_the_worker():
    w = planted(fail_load=True)
    with pytest.raises(EngineError, match="fail_load"):
        w.start()
    assert not w.alive


def test_crash_while_loading_is_a_crash():
    w = planted(abort_load=True)
    with pytest.raises(WorkerCrashed) as err:
        w.start()
    assert err.value.returncode == -6 and "aborting in load" in err.value.stderr_tail


def test_missing_interpreter_is_an_os_error_and_leaves_no_temp_dir():
    w = WorkerClient("planted-failures", MODEL, EngineConfig("planted-failures"), python="/nonexistent/python")
    with pytest.raises(OSError):
        w.start()
    assert w.artifacts_dir is not None and not w.artifacts_dir.exists()


def test_results_are_made_json_safe():
    import numpy as np

    from enginebugs.difftest.protocol import TopK
    from enginebugs.difftest.worker import json_default, to_jsonable

    value = {"a": np.float32(0.5), "b": [TopK([1], [np.float64(-1.0)])], "c": np.arange(3), "d": frozenset({2, 1})}
    assert to_jsonable(value) == {"a": 0.5, "b": [{"ids": [1], "logprobs": [-1.0]}], "c": [0, 1, 2], "d": [1, 2]}
    # the worker's reply path: json.dumps with the hook gives the same plain JSON
    assert json.loads(json.dumps(value, default=json_default)) == to_jsonable(value)


def test_unknown_engine_fails_at_load():
    w = WorkerClient("no-such-engine", MODEL, EngineConfig("no-such-engine"))
    with pytest.raises(EngineError, match="unknown engine 'no-such-engine'"):
        w.start()


def test_builtin_engines_come_from_the_entry_point_group():
    engines = registry.available_engines()
    for name in ("transformers", "llamacpp", "onnxruntime"):
        assert engines[name] == f"enginebugs.difftest.engines.{name}_engine:create"
    assert registry._entry_points()["transformers"] == "enginebugs.difftest.engines.transformers_engine:create"


def test_register_plugin_adds_the_engine_by_its_name(monkeypatch):
    monkeypatch.setattr(registry, "_plugins", {})
    assert "planted-failures" not in registry.available_engines()
    assert registry.register_plugin(PLUGIN) == "planted-failures"
    assert registry.available_engines()["planted-failures"] == PLUGIN
    assert registry.create_engine("planted-failures").name == "planted-failures"


@pytest.mark.parametrize("ref, message", [
    ("no_colon_here", "must look like"),
    ("tests.no_such_module:create", "cannot import"),
    ("tests.worker_plugins:missing", "has no attribute"),
    ("tests.worker_plugins:MARKER", "not callable"),
    ("tests.worker_plugins:not_an_engine", "has no 'name'"),
])
def test_bad_plugin_references_are_rejected(ref, message):
    with pytest.raises(registry.PluginError, match=message):
        registry.register_plugin(ref)
    with pytest.raises(registry.UnknownEngine):
        registry.create_engine("definitely-missing")


def test_full_logprobs_travel_as_binary_frames_without_files():
    import numpy as np

    from enginebugs.difftest.worker import full_logprobs
    from tests.fake_engine import FakeEngine, fake_model

    model, config = fake_model(), EngineConfig("fake", "f32")
    local = FakeEngine()
    local.load(model, config)
    ids = [1, 40, 41, 42, 43]
    with WorkerClient("fake", model, config, plugins=["tests.fake_engine:create"], timeout_s=60) as w:
        single = w.prompt_logprobs(ids, top_k=3, full=True)
        short = w.prompt_logprobs(ids[:3], top_k=3, full=True)
        plain = w.prompt_logprobs(ids, top_k=3)  # no array asked: none comes
        assert not list(w.artifacts_dir.iterdir())  # no file left behind
    want = full_logprobs(local.prompt_logprobs(ids, top_k=3, full=True))
    assert single.full_logprobs_file is None and single.full_logprobs.flags.writeable
    np.testing.assert_array_equal(single.full_logprobs, want)
    np.testing.assert_allclose(short.full_logprobs, want[:2], rtol=1e-6)  # shorter prefill: 1-ulp differences
    assert getattr(plain, "full_logprobs", None) is None and single.token_logprobs == plain.token_logprobs
