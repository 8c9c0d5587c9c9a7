"""CI baselines: grouping of one divergence seen through several oracles, known/new/fixed against a
baseline file, exit status 1 only for new findings, JUnit ``skipped`` for known ones; runs on the
fake engine with planted faults (the real tiny model's acceptance run is marked slow)."""
import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.difftest.baseline import compare, group_findings, group_key, load_baseline
from enginebugs.difftest.findings import Finding
from tests.fake_engine import fake_model

FAKE = ("--engine-plugin", "tests.fake_engine:create")
FAULT = "enginebugs.difftest.faults:"


def invoke(*args):
    return CliRunner().invoke(main, ["difftest", *args], catch_exceptions=False)


def finding(oracle, configs, root="incorrect-detokenization", n=1, fid=1):
    f = Finding(oracle, configs, [c.split(":")[0] for c in configs], "unexpected-output", root, "output-processor",
                "message", "character", occurrences=n)
    f.id = fid
    return f


def test_one_divergence_through_two_oracles_and_knob_pairs_is_one_group():
    decode = finding("tokenization.decode", ["transformers:f32", "llamacpp:f32"], n=3, fid=1)
    round_trip = finding("tokenization.round_trip", ["llamacpp:f32"], n=2, fid=2)
    other_root = finding("tokenization.ids", ["transformers:f32", "llamacpp:f32"], root="incorrect-tokenization", fid=3)
    knob_a = finding("precision.knobs", ["llamacpp:q4_K", "llamacpp:q4_K[n_batch=8]"], root="numerical-issue", fid=4)
    knob_b = finding("cache.chunked_prefill", ["llamacpp:q4_K", "llamacpp:q4_K[n_ubatch=4]"], root="numerical-issue", fid=5)
    groups = group_findings([decode, round_trip, other_root, knob_a, knob_b])
    assert [len(g.fingerprints) for g in groups] == [2, 1, 2]
    assert [g.occurrences for g in groups] == [5, 1, 2]
    assert groups[0].finding_ids == [1, 2] and groups[2].configuration == "llamacpp:q4_K"
    assert group_key(decode) == group_key(round_trip) != group_key(other_root)


def test_compare_known_by_fingerprint_or_group_and_fixed():
    decode = finding("tokenization.decode", ["transformers:f32", "llamacpp:f32"], fid=1)
    baseline = group_findings([decode, finding("tokenization.ids", ["a:f32", "b:f32"], root="incorrect-tokenization")])
    round_trip = finding("tokenization.round_trip", ["llamacpp:f32"], fid=2)  # same divergence, other oracle
    new = finding("tokenization.decode", ["transformers:f32", "onnxruntime:f32"], fid=3)
    result = compare([decode, round_trip, new], baseline, "b.json")
    assert set(result.known) == {1, 2}
    assert "listed" in result.known[1] and "same divergence" in result.known[2] and "b.json" in result.known[1]
    assert [g.configuration for g in result.fixed] == ["b:f32"]


@pytest.fixture
def fake_spec(tmp_path):
    path = tmp_path / "fake.json"
    path.write_text(json.dumps(fake_model().to_dict()))
    return str(path)


def _run(spec, *faults, extra=()):
    configs = ["fake:f32"] + [f"{name}:f32:wraps=fake" for name in faults]
    plugins = [a for name in faults for a in ("--engine-plugin", FAULT + name)]
    return invoke("run", "--model", spec, *FAKE, *plugins, "--configs", ",".join(configs), "--reference", "fake:f32",
                  "--suite", "smoke", "--quiet", *extra)


@pytest.mark.slow
def test_baseline_round_trip_known_new_fixed(tmp_path, fake_spec):
    base = tmp_path / "b.json"
    first = _run(fake_spec, "leading_space_dropper", extra=("--write-baseline", str(base)))
    assert first.exit_code == 1, first.output
    written = json.loads(base.read_text())
    assert written["known"] and all(g["fingerprints"] for g in written["known"])
    assert "run_id" not in base.read_text() and "started_at" not in base.read_text()

    out, junit = tmp_path / "r.json", tmp_path / "r.xml"
    again = _run(fake_spec, "leading_space_dropper",
                 extra=("--baseline", str(base), "--seed", "7", "--json-out", str(out), "--junit", str(junit)))
    assert again.exit_code == 0, again.output
    data = json.loads(out.read_text())
    assert data["findings"] and {f["status"] for f in data["findings"]} == {"known"}
    assert data["summary"]["new"] == 0 and data["summary"]["known"] == len(data["findings"])
    assert "0 new" in again.output and "known" in again.output
    cases = ET.parse(junit).getroot().iter("testcase")
    skipped = [c.find("skipped").get("message") for c in cases if c.find("skipped") is not None]
    assert any(m.startswith("known (listed") for m in skipped)
    assert not list(ET.parse(junit).getroot().iter("failure"))

    # a planted new fault still fails the run; the known one stays known
    planted = _run(fake_spec, "leading_space_dropper", "logit_noise",
                   extra=("--baseline", str(base), "--json-out", str(out)))
    assert planted.exit_code == 1, planted.output
    data = json.loads(out.read_text())
    statuses = {(f["oracle"], f["configs"][-1].split(":")[0]): f["status"] for f in data["findings"]}
    assert {s for (o, cfg), s in statuses.items() if cfg == "logit_noise"} == {"new"}
    assert {s for (o, cfg), s in statuses.items() if cfg == "leading_space_dropper"} == {"known"}

    # the fault gone: its group is reported fixed and the run passes
    clean = _run(fake_spec, extra=("--baseline", str(base), "--json-out", str(out)))
    assert clean.exit_code == 0, clean.output
    data = json.loads(out.read_text())
    assert len(data["baseline"]["fixed"]) == len(written["known"]) and "fixed" in clean.output


def test_toml_baseline_and_bad_baseline(tmp_path, fake_spec):
    toml = tmp_path / "b.toml"
    toml.write_text('schema = "enginebugs.difftest.baseline/1"\n[[known]]\ngroup = "0123"\n'
                    'fingerprints = ["abcd"]\nreason = "accepted upstream"\n')
    assert load_baseline(toml)[0].reason == "accepted upstream"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for path in (bad, tmp_path / "missing.json"):
        result = _run(fake_spec, extra=("--baseline", str(path)))
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: cannot read baseline")


@pytest.mark.slow
def test_default_tiny_run_against_its_own_baseline_exits_0(tmp_path, tiny_model):
    """Acceptance: the default tiny difftest, then again with the baseline it wrote."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("onnxruntime")
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(tiny_model.to_dict()))
    base, out = tmp_path / "b.json", tmp_path / "r.json"
    first = invoke("run", "--model", str(spec), "--quiet", "--write-baseline", str(base))
    assert first.exit_code in (0, 1) and base.exists()
    second = invoke("run", "--model", str(spec), "--quiet", "--baseline", str(base), "--json-out", str(out))
    assert second.exit_code == 0, second.output
    data = json.loads(out.read_text())
    assert data["summary"]["new"] == 0 and data["summary"]["known"] == len(data["findings"])
