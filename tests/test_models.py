"""Model preparation: the tiny model's recipe, cache, formats and conversions; the Gemma spec."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from enginebugs.difftest.models import cache, get_model, tiny
from enginebugs.difftest.models.gguf_meta import read_metadata
from enginebugs.difftest.models.to_gguf import permute_for_rope


def test_tiny_model_has_every_format(tiny_model):
    assert set(tiny_model.files) == {"hf", "onnx", "gguf-f32", "gguf-f16", "gguf-q8_0"}
    assert all(Path(p).exists() for p in tiny_model.files.values())
    cfg = json.loads((Path(tiny_model.files["hf"]) / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["head_dim"] == 64
    assert cfg["hidden_size"] // cfg["num_attention_heads"] == 64
    assert tiny_model.vocab_size == 2048 and (tiny_model.bos_token_id, tiny_model.eos_token_id) == (0, 1)
    assert sum(p.stat().st_size for p in Path(tiny_model.files["onnx"]).glob("model.onnx*")) > 1_000_000


def test_gguf_files_carry_their_quantization(tiny_model):
    gguf = pytest.importorskip("gguf")
    sizes = {}
    for dtype, file_type, tensor_type in [("f32", 0, "F32"), ("f16", 1, "F16"), ("q8_0", 7, "Q8_0")]:
        path = tiny_model.files[f"gguf-{dtype}"]
        meta = read_metadata(path, {"general.file_type", "llama.attention.head_count_kv", "tokenizer.ggml.tokens",
                                    "tokenizer.ggml.pre", "tokenizer.ggml.merges"})
        assert meta["general.file_type"] == file_type and meta["llama.attention.head_count_kv"] == 1
        assert meta["tokenizer.ggml.tokens"] == 2048 and meta["tokenizer.ggml.pre"] == "gpt-2"
        assert meta["tokenizer.ggml.merges"] > 1000
        reader = gguf.GGUFReader(path)  # the maintained reader agrees with the quick scanner
        assert len(reader.fields["tokenizer.ggml.tokens"].data) == 2048
        kinds = {t.name: t.tensor_type.name for t in reader.tensors}
        assert kinds["blk.0.attn_q.weight"] == tensor_type and kinds["output_norm.weight"] == "F32"
        sizes[dtype] = os.path.getsize(path)
    assert sizes["f32"] > sizes["f16"] > sizes["q8_0"]


def test_rope_permutation_interleaves_each_head():
    w = np.arange(8, dtype=np.float32)[:, None]  # one head of dim 8: rows r0..r7
    assert permute_for_rope(w, 1)[:, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    two = np.arange(16, dtype=np.float32)[:, None]
    assert permute_for_rope(two, 2)[8:, 0].tolist() == [8, 12, 9, 13, 10, 14, 11, 15]


def test_random_weights_are_seeded():
    a, b, c = tiny.random_state_dict(1), tiny.random_state_dict(1), tiny.random_state_dict(2)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["lm_head.weight"], c["lm_head.weight"])
    assert a["model.layers.0.self_attn.k_proj.weight"].shape == (64, 128)  # one KV head of 64


def test_recipe_hash_tracks_the_recipe_and_the_corpus():
    r = tiny.recipe()
    assert cache.recipe_hash(r) == cache.recipe_hash(json.loads(json.dumps(r)))
    assert cache.recipe_hash({**r, "seed": r["seed"] + 1}) != cache.recipe_hash(r)
    assert set(r["corpus"]) == {"code.txt", "multilingual.txt", "prose.txt"}


def test_tokenizer_corpus_is_small_and_mixed():
    files = tiny.corpus_files()
    total = sum(p.stat().st_size for p in files)
    assert 100_000 < total < 500_000
    text = "".join(p.read_text(encoding="utf-8") for p in files)
    assert "def " in text and "模型" in text and "Größere" in text


def test_model_is_built_once_per_recipe(tiny_model):
    root = Path(tiny_model.files["hf"]).parents[2]
    markers = [Path(p if Path(p).is_dir() else Path(p).parent) / ".complete" for p in tiny_model.files.values()]
    before = [m.stat().st_mtime_ns for m in markers]
    again = get_model("tiny", cache_dir=root, progress=lambda m: pytest.fail(f"rebuilt: {m}"))
    assert again == tiny_model and [m.stat().st_mtime_ns for m in markers] == before


def test_build_once_leaves_nothing_behind_on_failure(tmp_path):
    def broken(tmp: Path) -> None:
        (tmp / "partial").write_text("x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.build_once(tmp_path / "model", broken)
    assert not (tmp_path / "model").exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
    assert cache.build_once(tmp_path / "model", lambda t: (t / "ok").write_text("1")) == tmp_path / "model"
    assert (tmp_path / "model" / "ok").read_text() == "1"


def test_unknown_model_name_is_rejected():
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        get_model("nope")


@pytest.mark.gemma
def test_gemma_loads_and_scores_in_llamacpp():
    pytest.importorskip("llama_cpp")
    from enginebugs.difftest.models import ModelUnavailable
    from enginebugs.difftest.protocol import EngineConfig
    from enginebugs.difftest.worker import WorkerClient

    try:
        spec = get_model("gemma3-270m", formats=["gguf-q4_K"])
    except ModelUnavailable as exc:
        pytest.skip(str(exc))
    assert spec.vocab_size == 262144 and spec.bos_token_id is not None
    with WorkerClient("llamacpp", spec, EngineConfig("llamacpp", "q4_K", {"n_ctx": 256}), timeout_s=120) as w:
        ids = w.tokenize("The capital of France is")
        assert ids[0] == spec.bos_token_id and len(ids) > 3
        scores = w.prompt_logprobs(ids, top_k=5)
        assert len(scores.top) == len(ids) - 1 and all(lp <= 0 for lp in scores.token_logprobs)
        assert w.fingerprint["gguf_file_type"] == 15  # MOSTLY_Q4_K_M
        assert w.generate(ids, 3).token_ids
