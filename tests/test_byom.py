"""Bring your own model: ``--model PATH`` for an HF directory of an architecture the project never
generated (a tiny random Qwen2 next to the project's tokenizer), a GGUF file at an arbitrary
path, an architecture the GGUF converter cannot handle (llama.cpp skipped with the reason, the
others run), hub ids offline (clear error, no network), and the formats built only as needed."""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.difftest.models import get_model

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def invoke(*args):
    return CliRunner().invoke(main, ["difftest", *args], catch_exceptions=False)


def save_random(tmp_path, tiny_model, config_cls, name, **arch):
    """A random model of ``config_cls`` saved with ``save_pretrained`` next to the tiny tokenizer."""
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM

    hf = tiny_model.files["hf"]
    tiny_cfg = json.loads(open(f"{hf}/config.json").read())
    config = config_cls(vocab_size=2048, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                        bos_token_id=tiny_cfg["bos_token_id"], eos_token_id=tiny_cfg["eos_token_id"],
                        pad_token_id=tiny_cfg["pad_token_id"], **arch)
    torch.manual_seed(7)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():  # spread the logits over a few nats, as the tiny model does
        model.get_output_embeddings().weight.normal_(0.0, 0.2)
        model.get_input_embeddings().weight.normal_(0.0, 1.0)
    out = tmp_path / name
    model.save_pretrained(out, safe_serialization=True)
    for f in TOKENIZER_FILES:
        if (Path(hf) / f).exists():
            shutil.copy(Path(hf) / f, out / f)
    return out


@pytest.fixture(scope="module")
def qwen2_dir(tmp_path_factory, tiny_model):
    from transformers import Qwen2Config

    return save_random(tmp_path_factory.mktemp("byom"), tiny_model, Qwen2Config, "my-qwen2", head_dim=64)


def test_hf_directory_builds_only_the_formats_asked_for_and_caches_them(tmp_path, qwen2_dir):
    progress = []
    spec = get_model(str(qwen2_dir), tmp_path, progress.append, formats={"hf", "gguf-f32"})
    assert set(spec.files) == {"hf", "gguf-f32"} and spec.unavailable == {}
    assert spec.name == "my-qwen2" and spec.vocab_size == 2048 and spec.context_length == 512
    assert any("GGUF f32" in p for p in progress)
    from enginebugs.difftest.models.gguf_meta import read_metadata

    meta = read_metadata(spec.files["gguf-f32"], {"general.architecture", "qwen2.block_count"})
    assert meta == {"general.architecture": "qwen2", "qwen2.block_count": 2}
    again = get_model(str(qwen2_dir), tmp_path, lambda m: pytest.fail(f"rebuilt: {m}"), formats={"gguf-f32"})
    assert again.files["gguf-f32"] == spec.files["gguf-f32"]
    # another content (one changed weight file) is another cache entry
    other = tmp_path / "copy"
    shutil.copytree(qwen2_dir, other)
    (other / "config.json").write_text((other / "config.json").read_text().replace('"rms_norm_eps": 1e-06', '"rms_norm_eps": 1e-05'))
    assert get_model(str(other), tmp_path, formats={"gguf-f32"}).recipe_hash != spec.recipe_hash


def odd_architecture(tmp_path, tiny_model):
    """The tiny model under an architecture name the GGUF converter does not know (transformers
    still loads it: it goes by ``model_type``)."""
    src = tmp_path / "odd"
    shutil.copytree(tiny_model.files["hf"], src)
    cfg = json.loads((src / "config.json").read_text())
    cfg["architectures"] = ["PhiForCausalLM"]
    (src / "config.json").write_text(json.dumps(cfg))
    return src


def test_unsupported_architecture_skips_that_engine_with_the_reason(tmp_path, tiny_model):
    src = odd_architecture(tmp_path, tiny_model)
    spec = get_model(str(src), tmp_path / "cache", formats={"hf", "gguf-f32"})
    assert "hf" in spec.files and "gguf-f32" not in spec.files
    assert "does not handle PhiForCausalLM" in spec.unavailable["gguf-f32"]
    from enginebugs.difftest.engines.llamacpp_engine import LlamaCppEngine
    from enginebugs.difftest.protocol import EngineConfig, Unsupported

    with pytest.raises(Unsupported, match="does not handle PhiForCausalLM"):
        LlamaCppEngine().preflight(spec, EngineConfig("llamacpp", "f32"))


def test_bad_paths_and_offline_hub_ids_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # an empty hub cache: nothing local
    not_gguf = tmp_path / "weights.bin"
    not_gguf.write_bytes(b"PK\x03\x04junk")
    empty = tmp_path / "empty"
    empty.mkdir()
    for model, message in [("someorg/some-model@main", "--model PATH"), (str(not_gguf), "is not a GGUF file"),
                           (str(empty), "is not an HF model directory"), ("no such thing", "unknown model")]:
        result = invoke("prepare", "--model", model, "--cache-dir", str(tmp_path / "c"))
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert message in lines[0]


def _agree(tmp_path, model, configs):
    out = tmp_path / "r.json"
    result = invoke("run", "--model", model, "--configs", configs, "--suite", "smoke", "--quiet",
                    "--cache-dir", str(tmp_path / "cache"), "--json-out", str(out))
    data = json.loads(out.read_text())
    return result, data


@pytest.mark.slow
def test_user_qwen2_directory_agrees_across_three_engines_in_f32(tmp_path, qwen2_dir):
    """Acceptance: an architecture the project never generated, converted by the tester itself."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("onnxruntime")
    result, data = _agree(tmp_path, str(qwen2_dir), "transformers:f32,llamacpp:f32,onnxruntime:f32")
    statuses = {c["label"]: c["status"] for c in data["run"]["configs"]}
    assert set(statuses.values()) == {"ok"}, statuses
    precision = [f for f in data["findings"] if f["oracle"].startswith("precision")]
    assert precision == [], [f["title"] for f in precision]
    assert {m["actual"] for m in data["metrics"]["pairs"]} >= {"llamacpp:f32", "onnxruntime:f32"}


@pytest.mark.slow
def test_gguf_file_at_any_path_runs_in_llamacpp_and_dequantized_in_transformers(tmp_path, tiny_model):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("onnxruntime")
    anywhere = tmp_path / "somewhere" / "my model.gguf"
    anywhere.parent.mkdir()
    shutil.copy(tiny_model.files["gguf-q8_0"], anywhere)
    result, data = _agree(tmp_path, str(anywhere), "transformers:f32,llamacpp:q8_0,llamacpp:f32,onnxruntime:f32")
    statuses = {c["label"]: c["status"] for c in data["run"]["configs"]}
    assert set(statuses.values()) == {"ok"}, statuses
    # llamacpp:f32 and ONNX Runtime run the dequantized weights transformers loads: no precision finding
    f32 = [f for f in data["findings"] if f["oracle"].startswith("precision") and "llamacpp:q8_0" not in f["configs"]]
    assert f32 == [], [f["title"] for f in f32]


@pytest.mark.slow
def test_run_skips_the_engine_whose_converter_refuses_and_runs_the_others(tmp_path, tiny_model):
    pytest.importorskip("llama_cpp")
    src = odd_architecture(tmp_path, tiny_model)
    result, data = _agree(tmp_path, str(src), "transformers:f32,transformers:bf16,llamacpp:f32")
    assert result.exit_code in (0, 1), result.output
    configs = {c["label"]: c for c in data["run"]["configs"]}
    assert configs["llamacpp:f32"]["status"] == "unsupported"
    assert "does not handle PhiForCausalLM" in configs["llamacpp:f32"]["skip_reason"]
    assert configs["transformers:f32"]["status"] == configs["transformers:bf16"]["status"] == "ok"
    assert "format gguf-f32 unavailable" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("arch, extra", [("Qwen2Config", {"tie_word_embeddings": True}),
                                         ("Qwen3Config", {"head_dim": 64}), ("MistralConfig", {"head_dim": 64})])
def test_converted_gguf_scores_like_transformers(tmp_path, tiny_model, arch, extra):
    """Every architecture the converter claims: llama.cpp on its F32 GGUF vs transformers, same logits."""
    llama_cpp = pytest.importorskip("llama_cpp")
    import numpy as np
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    from enginebugs.difftest.models.to_gguf import write_gguf

    src = save_random(tmp_path, tiny_model, getattr(transformers, arch), arch, **extra)
    write_gguf(src, tmp_path / "m.gguf", "f32")
    llm = llama_cpp.Llama(model_path=str(tmp_path / "m.gguf"), logits_all=True, verbose=False, n_ctx=64, n_threads=1)
    ids = [0, 100, 200, 300, 400, 500]
    llm.eval(ids)
    ours = np.array(llm.scores[: len(ids)])
    theirs = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)(torch.tensor([ids])).logits[0].detach().numpy()
    assert np.abs(ours - theirs).max() < 2e-3
    assert (ours.argmax(-1) == theirs.argmax(-1)).all()
