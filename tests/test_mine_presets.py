"""Engine presets as data: the paper's five engines and three more, former names, custom rules."""
import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.mining.presets import PresetError, Rule, load_presets

PAPER = {"llama.cpp": "ggml-org/llama.cpp", "vLLM": "vllm-project/vllm", "DeepSpeed": "deepspeedai/DeepSpeed",
         "MLC-LLM": "mlc-ai/mlc-llm", "TensorRT-LLM": "NVIDIA/TensorRT-LLM"}


def test_packaged_presets_cover_the_paper_and_three_more_engines():
    presets = load_presets()
    engines = {t.engine: t for t in presets.targets}
    assert {e: t.repo for e, t in engines.items() if t.in_paper} == PAPER
    assert {"SGLang", "Ollama", "llama-cpp-python"} <= set(engines) and len(engines) == 8
    assert all(t.rule == Rule(("bug",), "closed") for e, t in engines.items() if e != "DeepSpeed")
    assert engines["DeepSpeed"].rule.labels == ("bug", "inference")


@pytest.mark.parametrize("name, engine", [
    ("vllm", "vLLM"), ("LLAMA.CPP", "llama.cpp"), ("ggerganov/llama.cpp", "llama.cpp"),
    ("microsoft/DeepSpeed", "DeepSpeed"), ("trt-llm", "TensorRT-LLM"), ("NVIDIA/TensorRT-LLM", "TensorRT-LLM"),
])
def test_names_aliases_and_former_names_resolve_to_the_current_repository(name, engine):
    presets = load_presets()
    target = presets.resolve(name)
    assert target.engine == engine and target.repo == PAPER[engine]
    assert presets.canonical_repo("ggerganov/llama.cpp") == "ggml-org/llama.cpp"


def test_any_owner_name_gets_the_default_rule_and_overrides():
    target = load_presets().resolve("someone/fast-engine")
    assert (target.engine, target.repo, target.rule) == ("fast-engine", "someone/fast-engine", Rule())
    custom = target.with_rule(labels=("crash",), keywords=("cuda",), state="all")
    assert custom.rule == Rule(("crash",), "all", ("cuda",))
    assert custom.rule.matches_text("A CUDA kernel fault", None) and not custom.rule.matches_text("cpu", "x")
    with pytest.raises(PresetError, match="state must be"):
        target.with_rule(state="merged")
    with pytest.raises(PresetError, match="unknown engine 'nonsense'"):
        load_presets().resolve("nonsense")


def test_an_edited_presets_file_is_used(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text('[default]\nlabels = ["defect"]\n\n[[engine]]\nname = "Tiny"\nrepo = "me/tiny"\n'
                    'former_names = ["old/tiny"]\nkeywords = ["gpu"]\n')
    monkeypatch.setenv("ENGINEBUGS_PRESETS", str(path))
    target = load_presets().resolve("old/tiny")
    assert (target.engine, target.repo, target.rule) == ("Tiny", "me/tiny", Rule(("defect",), "closed", ("gpu",)))
    result = CliRunner().invoke(main, ["mine", "presets"])
    assert result.exit_code == 0 and "me/tiny (formerly old/tiny): closed issues labelled defect, keywords gpu" \
        in result.output


@pytest.mark.parametrize("text, message", [
    ('[[engine]]\nname = "X"\n', "missing repo"),
    ('[[engine]]\nname = "X"\nrepo = "not a repo"\n', "not owner/name"),
    ('[[engine]]\nname = "X"\nrepo = "a/b"\nlabels = "bug"\n', "labels must be a list"),
    ('[[engine]\n', "mine.toml"),
])
def test_malformed_presets_are_one_clear_error(tmp_path, text, message):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(PresetError, match=message):
        load_presets(path)
    result = CliRunner().invoke(main, ["mine", "presets", "--presets", str(path)])
    assert result.exit_code == 2 and result.output.startswith("error: ")


def test_help_teaches_the_commands():
    runner = CliRunner()
    top = runner.invoke(main, ["mine", "--help"])
    assert top.exit_code == 0 and "ENGINE_OR_REPO" in top.output and "hydrate" in top.output
    sync = runner.invoke(main, ["mine", "sync", "--help"])
    for option in ("--since", "--until", "--state", "--labels", "--include-prs", "--limit", "--db", "--api-url",
                   "--token-env", "--comments"):
        assert option in sync.output
