"""``enginebugs difftest``: help, usage errors (exit 2, one ``error:`` line, nothing written), full
runs through worker subprocesses on the fake engine, a planted fault as a plugin, and one
end-to-end run of the three real engines on the tiny model."""
import json

import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.taxonomy.store import Store
from tests.conftest import engine_available
from tests.fake_engine import fake_model

FAKE = ("--engine-plugin", "tests.fake_engine:create")


def invoke(*args):
    return CliRunner().invoke(main, ["difftest", *args], catch_exceptions=False)


@pytest.fixture
def fake_spec(tmp_path):
    path = tmp_path / "fake.json"
    path.write_text(json.dumps(fake_model().to_dict()))
    return str(path)


def test_help_teaches():
    out = invoke("run", "--help").output
    for needle in ("--configs", "engine:dtype", "--profile", "--engine-plugin", "Exit status", "0 no new finding", "--baseline", "--write-baseline"):
        assert needle in out
    listing = invoke("list").output
    assert "tokenization.streaming" in listing and "leading_space_dropper" in listing and "strict" in listing


@pytest.mark.parametrize("args, message", [
    (["--configs", "nosuch:f32"], "unknown engine 'nosuch'"),
    (["--configs", "transformers"], "must look like engine:dtype"),
    (["--configs", "llamacpp:f32:n_bacth=4"], "does not understand option(s) n_bacth"),
    (["--engines", "transformers", "--configs", "llamacpp:f32"], "not in --engines"),
    (["--configs", "transformers:f32,transformers:f32"], "duplicate configurations"),
    (["--suite", "nosuch"], "unknown suite"),
    (["--reference", "onnxruntime:f16"], "reference 'onnxruntime:f16' is not one of"),
    (["--engine-plugin", "nosuch.module:make"], "cannot import"),
    (["--json-out", "/nonexistent/dir/out.json"], "does not exist"),
])
def test_usage_errors_exit_2_with_one_line_and_write_nothing(tmp_path, args, message):
    db = tmp_path / "s.db"
    result = invoke("run", "--db", str(db), *args)
    assert result.exit_code == 2, result.output
    lines = [l for l in result.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not db.exists()


def test_bad_tolerance_file_and_model_spec(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text('[profiles.default."*"]\nkld = 1\n')
    result = invoke("run", "--tolerances", str(bad))
    assert result.exit_code == 2 and "unknown key" in result.output
    result = invoke("run", "--model", str(tmp_path / "missing.json"), *FAKE, "--configs", "fake:f32")
    assert result.exit_code == 2 and "cannot read model spec" in result.output
    result = invoke("run", "--model", "giant", *FAKE, "--configs", "fake:f32")
    assert result.exit_code == 2 and "unknown model 'giant'" in result.output


@pytest.mark.slow
def test_clean_run_exits_0_and_planted_fault_plugin_exits_1(tmp_path, fake_spec):
    out = tmp_path / "clean.json"
    result = invoke("run", "--model", fake_spec, *FAKE, "--configs", "fake:f32,fake:bf16", "--reference", "fake:f32",
                    "--suite", "smoke", "--quiet", "--json-out", str(out))
    assert result.exit_code == 0, result.output
    assert "0 finding(s)" in result.output and json.loads(out.read_text())["findings"] == []

    db, junit, md = tmp_path / "s.db", tmp_path / "r.xml", tmp_path / "r.md"
    result = invoke("run", "--model", fake_spec, *FAKE, "--engine-plugin", "enginebugs.difftest.faults:leading_space_dropper",
                    "--configs", "fake:f32,leading_space_dropper:f32:wraps=fake", "--reference", "fake:f32",
                    "--suite", "smoke", "--quiet", "--db", str(db), "--junit", str(junit), "--markdown", str(md))
    assert result.exit_code == 1, result.output
    assert "Findings by oracle and configuration pair" in result.output and "tokenization.ids" in result.output
    with Store.open(db) as store:
        recs = list(store.records(kind="difftest"))
        assert recs and all(r["url"].startswith("difftest://") for r in recs)
        assert {l["value"] for r in recs for l in store.labels(r["id"], source="difftest")
                if l["dimension"] == "root_cause"} == {"incorrect-tokenization"}
    assert "<failure" in junit.read_text() and "Incorrect Tokenization" in md.read_text()


# -- real engines on the tiny model ----------------------------------------------------------
needs_engines = pytest.mark.skipif(
    not all(engine_available(m) for m in ("torch", "llama_cpp", "onnxruntime")),
    reason="needs torch, llama-cpp-python and onnxruntime")


@pytest.mark.slow
@pytest.mark.engines
@needs_engines
def test_planted_fault_plugin_wrapping_llamacpp_through_the_cli(tiny_model, tmp_path):
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(tiny_model.to_dict()))
    result = invoke("run", "--model", str(spec), "--engine-plugin", "enginebugs.difftest.faults:utf8_stream_splitter",
                    "--configs", "llamacpp:f32,utf8_stream_splitter:f32:wraps=llamacpp", "--reference", "llamacpp:f32",
                    "--suite", "smoke", "--quiet", "--json-out", str(tmp_path / "r.json"))
    assert result.exit_code == 1, result.output
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    planted = [f for f in findings if f["configs"][-1] == "utf8_stream_splitter:f32[wraps=llamacpp]"]
    assert [(f["oracle"], f["root_cause"]) for f in planted] == [("tokenization.streaming", "incorrect-character-encoding")]
    # Anything else is llama-cpp-python's own detokenizer dropping pieces longer than 32 bytes.
    for f in findings:
        if f not in planted:
            assert f["configs"] == ["llamacpp:f32"] and f["root_cause"] == "incorrect-detokenization"


def test_prepare_rejects_an_unknown_model():
    result = invoke("prepare", "--model", "giant")
    assert result.exit_code == 2 and result.output.startswith("error: unknown model 'giant'")


@pytest.mark.engines
def test_prepare_prints_the_model_spec(tiny_model):
    from pathlib import Path

    root = Path(tiny_model.files["hf"]).parents[2]
    result = invoke("prepare", "--model", "tiny", "--cache-dir", str(root))
    assert result.exit_code == 0, result.output
    spec = json.loads(result.output)
    assert spec["files"] == tiny_model.files and spec["recipe_hash"] == tiny_model.recipe_hash
