"""The historical benchmark's cases: every TOML reads, names real upstream URLs, installable
versions inside the adapter's supported range, a known oracle and model variant; a case without
a detection path says why. Running them builds environments, so it is the benchmark's job
(benchmarks/bench_historical.py), not the default test path's."""
import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.difftest.catalogue import ORACLES
from enginebugs.difftest.historical import CaseError, CaseResult, load_cases, summary
from enginebugs.difftest.models.tiny import VARIANTS
from enginebugs.difftest.runner import parse_config
from enginebugs.difftest.suites import load_suite
from enginebugs.difftest.versions import config_env, engine_of


def test_every_case_is_complete_and_in_range():
    from enginebugs.taxonomy.model import load

    root_causes = {e.slug for e in load().root_causes}
    cases = load_cases()
    assert cases, "no historical case shipped"
    for c in cases:
        assert all(u.startswith("https://github.com/") for u in c.urls) and c.urls, c.id
        assert c.oracle in ORACLES, c.id
        assert c.model.startswith("tiny") and c.model.partition(":")[2] in ("", *VARIANTS), c.id
        load_suite(c.suite)
        versions = {c.buggy, c.fixed, c.control}
        assert len(versions) == 3, f"{c.id}: buggy, fixed and control must differ"
        for v in versions:
            config = parse_config(c.config(v))
            config_env(config)  # in the supported range, or ValueError
            assert set(config.options) <= set(engine_of(config).option_defaults), f"{c.id}: unknown knob"
        assert c.detectable or c.why_not, f"{c.id}: an undetectable case must say why"
        assert c.root_cause in root_causes, f"{c.id}: root cause {c.root_cause!r} is not a taxonomy slug"


def test_case_config_pins_the_engine_or_a_dependency():
    from enginebugs.difftest.historical import Case

    base = dict(id="x", title="t", urls=("https://github.com/a/b/issues/1",), buggy="1", fixed="2", control="3",
                model="tiny", suite="smoke", oracle="tokenization.ids", root_cause="incorrect-tokenization")
    assert Case(package="transformers", engine="transformers", **base).config("5.0.0") == "transformers@5.0.0:f32"
    tok = Case(package="tokenizers", engine="transformers", base=("transformers==5.24.0",), **base)
    assert tok.config("0.21.0") == "transformers:f32:with=transformers==5.24.0+tokenizers==0.21.0"
    knob = Case(package="llama-cpp-python", engine="llamacpp", options="pickle_roundtrip=true", **base)
    assert knob.config("0.3.2") == "llamacpp@0.3.2:f32:pickle_roundtrip=true"
    assert parse_config(knob.config("0.3.2")).options == {"pickle_roundtrip": True}


def test_unknown_case_is_one_clear_error():
    with pytest.raises(CaseError, match="no historical case 'nope'"):
        load_cases("nope")
    result = CliRunner().invoke(main, ["difftest", "historical", "--only", "nope"])
    assert result.exit_code == 2 and result.output.startswith("error: no historical case 'nope'")


def test_summary_counts_per_package():
    def res(pkg, detected, control=()):
        return CaseResult("i", pkg, "1", "2", "3", "tokenization.ids", "incorrect-tokenization", True,
                          detected=detected, root_cause_ok=detected, control_findings=list(control), time_s=1.0)
    s = summary([res("transformers", True), res("transformers", False), res("tokenizers", True, ["precision.kld"])])
    assert s["packages"]["transformers"] == {"cases": 2, "detected": 1, "root_cause_ok": 1, "controls_clean": 2}
    assert s["packages"]["tokenizers"]["controls_clean"] == 0
    assert (s["detected"], s["controls_clean"], s["time_s"]) == (2, 2, 3.0)


def test_control_separates_version_differences_from_findings_both_releases_share():
    from types import SimpleNamespace as F

    from enginebugs.difftest.historical import version_differences

    a, b = "transformers@5.0.0:f32", "transformers@5.1.0:f32"
    shared = [F(oracle="tokenization.round_trip", configs=[a]), F(oracle="tokenization.round_trip", configs=[b])]
    assert version_differences(shared, [a, b]) == ([], ["tokenization.round_trip"])
    one_side = [F(oracle="cache.kv_recompute", configs=[a])]
    assert version_differences(one_side, [a, b]) == (["cache.kv_recompute"], [])
    pair = [F(oracle="tokenization.decode", configs=[b, a])]
    assert version_differences(pair, [a, b]) == (["tokenization.decode"], [])



def test_a_finding_both_versions_share_is_no_detection():
    from types import SimpleNamespace as F

    from enginebugs.difftest.historical import separates

    buggy, fixed = "tokenizers@0.21.0:f32", "tokenizers@0.21.1:f32"
    stream_b, stream_f = F(oracle="tokenization.streaming", configs=[buggy]), F(oracle="tokenization.streaming", configs=[fixed])
    assert not separates(stream_b, [stream_b, stream_f], [buggy, fixed])  # every release streams that way
    assert separates(stream_b, [stream_b], [buggy, fixed])
    assert separates(F(oracle="tokenization.ids", configs=[fixed, buggy]), [], [buggy, fixed])


def test_round_trip_symmetric_between_two_versions_sharing_a_lossy_tokenizer():
    """Two versions that both lose a leading space: no round-trip finding whichever is the
    reference (the control of transformers-v5-cleanup-spaces-dropped flagged the reference only);
    a reference that loses it beside a version that does not is still flagged."""
    from tests.fake_engine import run_fake

    lossy_a = "leading_space_dropper@1.0:f32:wraps=fake"
    lossy_b, lossy_b_label = "leading_space_dropper@2.0:f32:wraps=fake", "leading_space_dropper@2.0:f32[wraps=fake]"
    shared = run_fake([lossy_a, lossy_b], reference=lossy_b_label)
    assert not [f for f in shared.findings if f.oracle == "tokenization.round_trip"]
    alone = run_fake(["fake@1.0:f32", lossy_b], reference=lossy_b_label)
    assert ("tokenization.round_trip", (lossy_b_label,)) in {(f.oracle, tuple(f.configs)) for f in alone.findings}
