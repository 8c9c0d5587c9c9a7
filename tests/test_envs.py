"""Engine versions as a test axis: the configuration grammar, supported ranges, version labels in
findings, and one real (small, pure-Python) pinned worker environment created and then reused."""
import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.difftest import envs
from enginebugs.difftest.paths import source_checkout
from enginebugs.difftest.runner import parse_config
from enginebugs.difftest.versions import config_env, pinned_requirements, worker_env
from tests.fake_engine import run_fake


def test_versioned_configuration_grammar_and_labels():
    c = parse_config("transformers@5.24.0:f32:with=tokenizers==0.21.0+Huggingface_Hub==0.30.2")
    assert (c.engine, c.version, c.dtype, c.pins) == ("transformers", "5.24.0", "f32",
                                                       ("tokenizers==0.21.0", "huggingface-hub==0.30.2"))
    assert c.label == "transformers@5.24.0:f32[with=tokenizers==0.21.0+huggingface-hub==0.30.2]"
    assert c.versioned and not parse_config("transformers:f32").versioned
    assert parse_config("llamacpp@0.3.16:f32:n_batch=4").label == "llamacpp@0.3.16:f32[n_batch=4]"
    assert type(c).from_dict(json.loads(json.dumps(c.to_dict()))) == c
    for bad in ("transformers@:f32", "transformers@abc:f32", "transformers:f32:with=tokenizers",
                "transformers:f32:with=tokenizers>=0.2"):
        with pytest.raises(ValueError):
            parse_config(bad)


def test_requirements_are_range_checked_per_adapter():
    from enginebugs.difftest.engines.llamacpp_engine import LlamaCppEngine
    from enginebugs.difftest.engines.transformers_engine import TransformersEngine

    hf = TransformersEngine()
    assert pinned_requirements(hf, parse_config("transformers@4.50.0:f32:with=tokenizers==0.21.0")) == \
        ["transformers==4.50.0", "tokenizers==0.21.0"]
    assert pinned_requirements(hf, parse_config("transformers@5.0.0rc1:f32")) == ["transformers==5.0.0rc1"]
    for spec, why in (("transformers@4.49.0:f32", "transformers>=4.50"),
                      ("transformers:f32:with=tokenizers==0.14.1", "tokenizers>=0.15"),
                      ("transformers@5.0.0:f32:with=transformers==5.1.0", "pinned twice")):
        with pytest.raises(ValueError, match=why):
            pinned_requirements(hf, parse_config(spec))
    with pytest.raises(ValueError, match="llama-cpp-python>=0.3.0"):
        pinned_requirements(LlamaCppEngine(), parse_config("llamacpp@0.2.90:f32"))
    # One environment per resolved requirement set (pin order does not matter), per flavour.
    a = worker_env(hf, parse_config("transformers@5.20.0:f32:with=tokenizers==0.22.1"))
    b = config_env(parse_config("transformers:bf16:with=tokenizers==0.22.1+transformers==5.20.0"))
    assert a.key == b.key and a.path() == b.path() and a.flavour == "overlay"
    assert config_env(parse_config("vllm@0.31.0:f32")).flavour == "isolated"
    assert config_env(parse_config("transformers:f32")) is None


def test_out_of_range_version_is_refused_before_anything_runs(tmp_path):
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["difftest", "run", "--model", "tiny", "--cache-dir", str(tmp_path / "cache"),
                                       "--configs", "transformers@4.40.0:f32,transformers:f32", "--json-out", str(out)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: transformers@4.40.0:f32: transformers 4.40.0 is outside the range the transformers adapter "
        "supports (transformers>=4.50)"]
    assert not out.exists() and not (tmp_path / "cache").exists()  # no model built, no environment


def test_versions_name_the_findings_and_their_fingerprints():
    clean = run_fake(["fake@1.0:f32", "fake@2.0:f32"], reference="fake@1.0:f32")
    assert clean.findings == [] and clean.run["reference"] == "fake@1.0:f32"
    broken = run_fake(["fake@1.0:f32", "leading_space_dropper@2.0:f32:wraps=fake"], reference="fake@1.0:f32")
    same = run_fake(["fake:f32", "leading_space_dropper:f32:wraps=fake"], reference="fake:f32")
    assert broken.findings and all("leading_space_dropper@2.0:f32[wraps=fake]" in f.configs for f in broken.findings)
    by_oracle = {f.oracle: f.fingerprint for f in same.findings}
    assert {f.oracle for f in broken.findings} == set(by_oracle)
    assert all(f.fingerprint != by_oracle[f.oracle] for f in broken.findings)  # versions are part of it


def test_pinned_environment_is_created_once_then_reused(tmp_path, monkeypatch):
    """A real build (pip from the local index) of a small pure-Python pin the main venv lacks."""
    spec = envs.EnvSpec.of(["six==1.16.0"])
    python = envs.ensure(spec, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(source_checkout() or "")}
    code = "import six, numpy, enginebugs.difftest.worker; print(six.__version__)"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1.16.0"  # the pin, with the base's numpy and the project importable

    def no_second_build(*_a, **_k):
        raise AssertionError("a cached environment was rebuilt")
    monkeypatch.setattr(envs, "_build", no_second_build)
    t0 = time.perf_counter()
    assert envs.ensure(envs.EnvSpec.of(["six==1.16.0"]), tmp_path) == python
    assert time.perf_counter() - t0 < 1.0
    (info,) = envs.list_envs(tmp_path)
    assert info.requirements == ["six==1.16.0"] and info.complete and info.size_bytes > 0
    listing = CliRunner().invoke(main, ["difftest", "envs", "--cache-dir", str(tmp_path)])
    assert listing.exit_code == 0 and "six==1.16.0" in listing.output and "1 environment(s)" in listing.output
    pruned = CliRunner().invoke(main, ["difftest", "envs", "--prune", "--cache-dir", str(tmp_path)])
    assert pruned.exit_code == 0 and "no worker environments" in pruned.output and not python.exists()


def test_an_isolated_environment_gets_the_project_from_an_installed_wheel(tmp_path):
    """No checkout (the project runs from a wheel): the environment links the installed package,
    and the link still works once the environment is moved into its cache folder."""
    package = tmp_path / "site" / "enginebugs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("WHERE = 'installed wheel'\n")
    building = tmp_path / "building"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(building)], check=True)
    envs._install_project(envs.interpreter(building), building, here=package)
    building.rename(tmp_path / "final")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(envs.interpreter(tmp_path / "final")), "-c", "import enginebugs; print(enginebugs.WHERE)"],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "installed wheel"


def test_a_pin_pip_cannot_satisfy_is_an_env_error(tmp_path):
    with pytest.raises(envs.EnvError, match="pip install"):
        envs.ensure(envs.EnvSpec.of(["six==0.0.999"]), tmp_path)
    assert envs.list_envs(tmp_path) == []  # nothing half-built left behind


def test_older_transformers_get_a_config_they_can_read(tmp_path):
    from enginebugs.difftest.engines.hf_compat import dtype_kwarg, legacy_config, readable_hf_dir

    assert (dtype_kwarg("4.55.4"), dtype_kwarg("4.56.0"), dtype_kwarg("5.24.0")) == ("torch_dtype", "dtype", "dtype")
    llama = legacy_config({"rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"}, "dtype": "float32"})
    assert llama == {"rope_theta": 500000.0, "torch_dtype": "float32"}
    gemma = legacy_config({"layer_types": ["sliding_attention"] * 5 + ["full_attention"], "rope_parameters": {
        "full_attention": {"rope_theta": 1e6, "rope_type": "default"}, "sliding_attention": {"rope_theta": 1e4}}})
    assert (gemma["rope_theta"], gemma["rope_local_base_freq"], gemma["sliding_window_pattern"]) == (1e6, 1e4, 6)
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"rope_parameters": {"rope_theta": 10.0}}))
    (hf / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "TokenizersBackend", "backend": "x"}))
    (hf / "model.safetensors").write_bytes(b"weights")
    assert readable_hf_dir(hf, "5.0.0", tmp_path / "s") == hf
    old = readable_hf_dir(hf, "4.57.6", tmp_path / "s")
    assert json.loads((old / "config.json").read_text()) == {"rope_theta": 10.0}
    assert json.loads((old / "tokenizer_config.json").read_text()) == {"tokenizer_class": "PreTrainedTokenizerFast"}
    assert (old / "model.safetensors").read_bytes() == b"weights"


def test_two_versions_of_one_engine_are_judged_as_two_implementations():
    """fake@2.0 is the same engine as fake@1.0 with a planted tokenizer fault: it must get its own
    tokenization checks and precision pair (a knob variant of one build would get neither)."""
    from enginebugs.difftest.faults import LeadingSpaceDropper
    from enginebugs.difftest.inprocess import InProcessClient
    from enginebugs.difftest.runner import Runner, RunOptions
    from enginebugs.difftest.suites import load_suite
    from tests.fake_engine import FakeEngine, fake_model

    model = fake_model()

    def factory(config):
        engine = LeadingSpaceDropper(FakeEngine()) if config.version == "2.0" else FakeEngine()
        engine.name = "fake"
        return InProcessClient(engine, model, config)
    configs = [parse_config("fake@1.0:f32"), parse_config("fake@2.0:f32")]
    r = Runner(model, configs, load_suite("smoke"), RunOptions(progress=False, reference="fake@1.0:f32"),
               client_factory=factory).run()
    oracles = {f.oracle for f in r.findings}
    assert "tokenization.ids" in oracles and "precision.knobs" not in oracles
    judged = {o["oracle"] for o in r.oracles if o["configs"] == ["fake@1.0:f32", "fake@2.0:f32"]}
    assert {"tokenization.ids", "precision.kld"} <= judged
