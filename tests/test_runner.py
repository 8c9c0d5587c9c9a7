"""The runner on the pure-numpy fake engine: clean runs, profiles, results files, the store, and
crashes / hangs / exceptions contained as findings while the run goes on."""
import json
import sqlite3
import xml.etree.ElementTree as ET

import pytest

from enginebugs.difftest.findings import save_findings, store_url
from enginebugs.difftest.protocol import EngineConfig, Unsupported
from enginebugs.difftest.report_io import write_junit, write_markdown
from enginebugs.difftest.results import SCHEMA, load_results
from enginebugs.difftest.runner import Runner, RunOptions, default_configs, parse_config, worker_factory
from enginebugs.difftest.suites import load_suite
from enginebugs.taxonomy.store import Store
from tests.fake_engine import FakeEngine, fake_model, in_process_factory, run_fake

CLEAN = ["fake:f32", "fake:bf16", "fake:q8_0", "fake:f32:prefill_chunk=3"]


@pytest.fixture(scope="module")
def clean_default():
    return run_fake(CLEAN, reference="fake:f32")


def test_clean_engines_give_no_finding_under_default(clean_default):
    r = clean_default
    assert r.findings == [] and r.exit_code == 0
    statuses = {(o["oracle"], tuple(o["configs"])): o["status"] for o in r.oracles}
    # Every oracle family actually ran (passed), none was silently skipped.
    for oracle in ("tokenization.round_trip", "tokenization.streaming", "sanity.logprobs",
                   "precision.tokens", "precision.logprobs", "precision.kld", "cache.kv_recompute",
                   "cache.prefix_reuse", "cache.chunked_prefill", "batch.needle", "batch.order"):
        assert "pass" in {s for (o, _), s in statuses.items() if o == oracle}, oracle
    pairs = {(m["expected"], m["actual"]): m for m in r.metrics["pairs"]}
    assert pairs[("fake:f32", "fake:q8_0")]["kld"]["mean"] > pairs[("fake:f32", "fake:bf16")]["kld"]["mean"] > 0
    assert pairs[("fake:f32", "fake:f32[prefill_chunk=3]")]["pair_class"] == "same:f32"


def test_strict_profile_flags_every_non_bitwise_difference():
    r = run_fake(CLEAN, reference="fake:f32", profile="strict")
    flagged = {(f.oracle, tuple(f.configs)) for f in r.findings}
    assert ("precision.kld", ("fake:f32", "fake:q8_0")) in flagged
    assert ("precision.logprobs", ("fake:f32", "fake:bf16")) in flagged
    assert ("cache.chunked_prefill", ("fake:f32", "fake:f32[prefill_chunk=3]")) in flagged
    q8 = next(f for f in r.findings if f.oracle == "precision.kld" and "fake:q8_0" in f.configs)
    assert q8.root_cause == "mismatched-precision" and q8.component == "operators" and r.exit_code == 1
    # The tokenizer is exact: no tokenization finding even under strict.
    assert not any(f.oracle.startswith("tokenization") for f in r.findings)


def test_results_json_junit_markdown(clean_default, tmp_path):
    noisy = run_fake(["fake:f32", "logit_noise:f32:wraps=fake"], reference="fake:f32", seed=5)
    noisy.write_json(tmp_path / "r.json")
    data = load_results(tmp_path / "r.json")
    assert data["schema"] == SCHEMA and data["run"]["seed"] == 5 and data["run"]["reference"] == "fake:f32"
    assert {c["label"] for c in data["run"]["configs"]} == {"fake:f32", "logit_noise:f32[wraps=fake]"}
    assert all(c["fingerprint"] for c in data["run"]["configs"])
    assert data["summary"]["findings"] == len(data["findings"]) > 0
    f = data["findings"][0]
    for key in ("oracle", "configs", "engines", "symptom", "root_cause", "component", "prompt", "first_divergence",
                "metrics", "url", "message"):
        assert key in f
    assert f["url"] == f"difftest://{data['run']['id']}/1"
    assert {m["pair_class"] for m in data["metrics"]["pairs"]} == {"f32~f32"}
    write_junit(noisy, tmp_path / "r.xml")
    root = ET.parse(tmp_path / "r.xml").getroot()
    failures = sum(int(s.get("failures")) + int(s.get("errors")) for s in root.iter("testsuite"))
    assert failures == len(noisy.findings)
    write_markdown(noisy, tmp_path / "r.md")
    md = (tmp_path / "r.md").read_text()
    assert "## Findings (3)" in md and "Distribution statistics" in md
    with pytest.raises(ValueError):
        (tmp_path / "x.json").write_text('{"schema": "other"}')
        load_results(tmp_path / "x.json")


def test_findings_are_stored_with_difftest_labels(tmp_path):
    r = run_fake(["fake:f32", "leading_space_dropper:f32:wraps=fake"], reference="fake:f32")
    db = tmp_path / "s.db"
    assert save_findings(db, r.run, r.findings) == len(r.findings) > 0
    with Store.open(db) as store:
        recs = list(store.records(kind="difftest"))
        assert {rec["url"] for rec in recs} == {store_url("fake", f) for f in r.findings}
        rec = next(x for x in recs if x["extra"]["finding"]["oracle"] == "tokenization.ids")
        assert rec["engine"] == "leading_space_dropper" and rec["repo"] == "difftest/fake"
        labels = {(l["dimension"], l["value"]) for l in store.labels(rec["id"], source="difftest")}
        assert {("symptom", "unexpected-output"), ("root_cause", "incorrect-tokenization"),
                ("component", "input-processor"), ("phase", "inference-serving"),
                ("output_subtype", "inconsistent-output")} == labels


def test_store_write_is_all_or_nothing(tmp_path, monkeypatch):
    r = run_fake(["fake:f32", "leading_space_dropper:f32:wraps=fake"], reference="fake:f32")
    db = tmp_path / "s.db"
    calls = []

    def failing(self, *a, **k):
        calls.append(1)
        if len(calls) > 3:
            raise sqlite3.OperationalError("disk full")
    monkeypatch.setattr(Store, "set_labels", failing)
    with pytest.raises(sqlite3.OperationalError):
        save_findings(db, r.run, r.findings)
    monkeypatch.undo()
    with Store.open(db) as store:
        assert store.count() == 0


class ExplodingDetokenizer(FakeEngine):
    def detokenize(self, ids):
        raise RuntimeError("buffer too small")


class NoBf16(FakeEngine):
    def load(self, model, config):
        if config.dtype == "bf16":
            raise Unsupported("no bf16 weights")
        super().load(model, config)


def test_engine_exception_is_a_crash_finding_and_unsupported_dtype_a_skip():
    model = fake_model()
    plain = in_process_factory(model)

    def factory(c):
        client = plain(c)
        if c.engine == "boom":
            client.engine_obj = ExplodingDetokenizer()
        elif c.dtype == "bf16":
            client.engine_obj = NoBf16()
        return client
    configs = [EngineConfig("fake", "bf16"), EngineConfig("fake", "f32"), EngineConfig("boom", "f32")]
    r = Runner(model, configs, load_suite("smoke"), RunOptions(progress=False), client_factory=factory).run()
    assert r.run["reference"] == "fake:f32"  # fell back from transformers:f32, skipped the unloadable one
    status = {c["label"]: c for c in r.run["configs"]}
    assert status["fake:bf16"]["status"] == "unsupported" and "no bf16" in status["fake:bf16"]["skip_reason"]
    crash = [f for f in r.findings if f.oracle == "engine.error"]
    assert len(crash) == 1 and crash[0].configs == ["boom:f32"] and crash[0].symptom == "crash"
    assert crash[0].root_cause == "incorrect-detokenization" and "buffer too small" in crash[0].message
    assert crash[0].occurrences > 1  # every detokenize call failed; one finding counts them
    # The session stayed alive: its model calls still ran and were judged.
    assert any(o["oracle"] == "precision.kld" and o["configs"] == ["fake:f32", "boom:f32"] and o["status"] == "pass"
               for o in r.oracles)
    skipped = [o for o in r.oracles if o["configs"] == ["fake:bf16"] and o["status"] == "skip"]
    assert skipped and all("no bf16" in o["reason"] for o in skipped)


@pytest.mark.slow
def test_worker_crash_and_hang_are_findings_and_the_run_goes_on():
    plugins = ("tests.fake_engine:create", "enginebugs.difftest.faults:abort_on_generate", "enginebugs.difftest.faults:hang_on_generate")
    options = RunOptions(progress=False, plugins=plugins, timeout_s=4, reference="fake:f32")
    configs = [parse_config(s) for s in ("fake:f32", "abort_on_generate:f32:wraps=fake",
                                         "hang_on_generate:f32:wraps=fake", "fake:bf16")]
    model = fake_model()
    r = Runner(model, configs, load_suite("smoke"), options, client_factory=worker_factory(model, options)).run()
    by_oracle = {f.oracle: f for f in r.findings}
    crash, hang = by_oracle["engine.crash"], by_oracle["engine.hang"]
    assert crash.symptom == "crash" and crash.configs == ["abort_on_generate:f32[wraps=fake]"]
    assert "GGML_ASSERT" in crash.message and crash.metrics["returncode"] == -6
    assert hang.symptom == "system-hang" and "did not finish within 4" in hang.message
    status = {c["label"]: c["status"] for c in r.run["configs"]}
    assert status == {"fake:f32": "ok", "abort_on_generate:f32[wraps=fake]": "crashed",
                      "hang_on_generate:f32[wraps=fake]": "hung", "fake:bf16": "ok"}
    # The other engines were judged in full.
    assert any(o["oracle"] == "precision.kld" and o["configs"] == ["fake:f32", "fake:bf16"] and o["status"] == "pass"
               for o in r.oracles)
    assert not [f for f in r.findings if "fake:bf16" in f.configs]


def test_config_parsing_and_defaults():
    c = parse_config("llamacpp:f32:n_batch=8:flash_attn=true:type_k=q8_0")
    assert c.options == {"n_batch": 8, "flash_attn": True, "type_k": "q8_0"} and c.label.startswith("llamacpp:f32[")
    for bad in ("llamacpp", "llamacpp:", "llamacpp:f32:n_batch"):
        with pytest.raises(ValueError):
            parse_config(bad)
    labels = [c.label for c in default_configs(["transformers", "llamacpp", "onnxruntime"])]
    assert labels[:2] == ["transformers:f32", "transformers:bf16"] and "onnxruntime:f32" in labels
    assert {"llamacpp:f32", "llamacpp:f16", "llamacpp:q8_0"} <= set(labels)


def test_runner_rejects_bad_setups():
    with pytest.raises(ValueError, match="duplicate"):
        Runner(fake_model(), [EngineConfig("fake"), EngineConfig("fake")], load_suite("smoke"))
    with pytest.raises(ValueError, match="reference"):
        Runner(fake_model(), [EngineConfig("fake")], load_suite("smoke"), RunOptions(reference="x:f32"))


def test_record_each_sends_one_batch_and_falls_back_per_item_when_it_fails():
    from enginebugs.difftest.inprocess import InProcessClient
    from enginebugs.difftest.runner import record_each
    from enginebugs.difftest.session import Session

    class Picky(FakeEngine):
        calls: list = []

        def detokenize(self, ids):
            Picky.calls.append(tuple(ids))
            if 999999 in ids:
                raise ValueError("id out of range")
            return super().detokenize(ids)

    s = Session(EngineConfig("fake", "f32"), InProcessClient(Picky(), fake_model(), EngineConfig("fake", "f32")),
                call_log=[])
    s.start()
    rows = [s.client.call("tokenize", text=t, add_special=False) for t in ("ab", "héllo", "z")]
    record_each(s, [("dec", i) for i in range(3)], "detokenize", rows)
    assert [m for m, _ in s.call_log] == ["detokenize_batch"] and s.calls == 1
    assert [s.get(("dec", i)) for i in range(3)] == ["ab", "héllo", "z"]
    # one bad row: the batch fails, each row is recorded on its own, the bad one as a reason
    record_each(s, [("bad", i) for i in range(3)], "detokenize", [rows[0], [999999], rows[2]])
    assert [m for m, _ in s.call_log[1:]] == ["detokenize_batch"] + ["detokenize"] * 3
    assert s.get(("bad", 0)) == "ab" and s.get(("bad", 2)) == "z"
    assert not s.get(("bad", 1)) and "id out of range" in s.get(("bad", 1)).reason and s.alive


@pytest.mark.parametrize("method, root_cause, component", [
    ("detokenize_batch", "incorrect-detokenization", "output-processor"),
    ("tokenize_batch", "incorrect-tokenization", "input-processor"),
    ("generate", "incorrect-algorithm-implementation", "operators"),  # control: not a tokenizer call
])
def test_a_crash_in_a_batch_call_is_attributed_like_its_single_call(method, root_cause, component):
    from enginebugs.difftest.results import _failure_finding
    from enginebugs.difftest.session import Failure

    f = _failure_finding(Failure("crash", "x:f32", "x", method, "killed by signal 11"))
    assert (f.oracle, f.root_cause, f.component) == ("engine.crash", root_cause, component)
