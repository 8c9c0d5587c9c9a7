"""The tiny model family: every variant converts and loads in every engine that supports its
architecture and tokenizer (or is skipped with the reason), scores finite log-probabilities, and
agrees with transformers on its greedy next token; each variant really has its defining property."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from enginebugs import datasets
from enginebugs.difftest.models.tiny import UNSUPPORTED_FORMATS, VARIANTS
from enginebugs.difftest.protocol import EngineConfig

pytestmark = pytest.mark.slow
ENGINES = {"transformers": "torch", "llamacpp": "llama_cpp", "onnxruntime": "onnxruntime"}
FORMAT_OF = {"transformers": "hf", "llamacpp": "gguf", "onnxruntime": "onnx"}
TEXT = "The window closes </s> after «τέλος» and <|sep|> here:"
LONG = " ".join(["the lighthouse keeper writes every token twice"] * 12)


@pytest.fixture(scope="module")
def variant_models(tmp_path_factory):
    pytest.importorskip("torch")
    from enginebugs.difftest.models import get_model

    cache = os.environ.get("ENGINEBUGS_TEST_CACHE") or tmp_path_factory.mktemp("variant-cache")
    return {v: get_model(f"tiny:{v}", cache_dir=Path(cache)) for v in VARIANTS if v != "llama"}


def load(engine: str, model):
    from enginebugs.difftest.engines.registry import create_engine

    pytest.importorskip(ENGINES[engine])
    why = UNSUPPORTED_FORMATS.get(model.name.partition(":")[2], {}).get(FORMAT_OF[engine])
    if why:
        pytest.skip(f"{model.name} has no {FORMAT_OF[engine]} weights: {why}")
    e = create_engine(engine)
    e.load(model, EngineConfig(engine, "f32", {"threads": 1} if "threads" in e.option_defaults else {}))
    return e


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "llama"])
def test_variant_loads_and_agrees_with_transformers(variant_models, variant, engine):
    model = variant_models[variant]
    e = load(engine, model)
    ids = e.tokenize(LONG)
    assert ids[0] == model.bos_token_id and all(0 <= i < model.vocab_size for i in ids)
    scores = e.prompt_logprobs(ids, top_k=5)
    assert len(scores.token_logprobs) == len(ids) - 1 and np.isfinite(scores.token_logprobs).all()
    if engine != "transformers":
        ref = load("transformers", model)
        expected = ref.prompt_logprobs(ids, top_k=5)
        same_top1 = np.mean([a.ids[0] == b.ids[0] for a, b in zip(scores.top, expected.top)])
        assert same_top1 >= 0.9, f"{engine} and transformers disagree on {1 - same_top1:.0%} of next tokens"
        np.testing.assert_allclose(scores.token_logprobs, expected.token_logprobs, atol=1e-2)  # default profile, f32
    e.close()


def test_each_variant_has_its_defining_property(variant_models):
    from tokenizers import Tokenizer

    def files(v):
        hf = Path(variant_models[v].files["hf"])
        return json.loads((hf / "config.json").read_text()), json.loads((hf / "tokenizer_config.json").read_text()), \
            Tokenizer.from_file(str(hf / "tokenizer.json"))

    cfg, tcfg, tok = files("llamafast")
    assert tcfg["tokenizer_class"] == "LlamaTokenizerFast" and "ByteLevel" in tok.to_str()
    cfg, tcfg, tok = files("metaspace")
    assert "Metaspace" in tok.to_str() and tok.token_to_id("<0xE6>") is not None
    cfg, tcfg, tok = files("added-tokens")
    assert tok.encode("a<|sep|>b", add_special_tokens=False).tokens == ["a", "<|sep|>", "b"]
    assert "NFKC" in tok.to_str() and tok.token_to_id("«τέλος»") is not None
    cfg, _, _ = files("gemma3-sw")
    assert cfg["model_type"] == "gemma3_text" and cfg["sliding_window"] == 48
    prompt_tokens = max(len(tok.encode(p).ids) for p in __import__("tomllib").loads(
        (datasets.path("prompts") / "variants.toml").read_text(encoding="utf-8"))["prompts"])
    assert prompt_tokens > cfg["sliding_window"]  # the variants suite crosses the window
    cfg, _, _ = files("gqa")
    assert cfg["num_attention_heads"] == 4 and cfg["num_key_value_heads"] == 2
    _, _, tok = files("metaspace-added")
    assert "Metaspace" in tok.to_str() and tok.encode("<|sep|>x", add_special_tokens=False).tokens[0] == "<|sep|>"
    _, _, tok = files("bytelevel-normalizer")
    spec = json.loads(tok.to_str())
    assert spec["normalizer"]["type"] == "ByteLevel" and spec["pre_tokenizer"]["type"] == "Split"
    assert all(t["normalized"] for t in spec["added_tokens"] if not t["special"])
    _, _, tok = files("ignore-merges")
    spec = json.loads(tok.to_str())
    assert spec["model"]["ignore_merges"] and tok.encode(" median", add_special_tokens=False).tokens == ["Ġmedian"]
    _, tcfg, _ = files("chat-template")
    from enginebugs.difftest.models.gguf_meta import read_metadata

    gguf = read_metadata(variant_models["chat-template"].files["gguf-f32"], {"tokenizer.chat_template"})
    assert "{% generation %}" in tcfg["chat_template"] and gguf["tokenizer.chat_template"] == tcfg["chat_template"]
    for v, factor in (("yarn", 4.0), ("yarn-factor", 2.0)):
        rope = files(v)[0]["rope_parameters"]
        assert (rope["rope_type"], rope["factor"], rope["original_max_position_embeddings"]) == ("yarn", factor, 128)
    rope = files("longrope")[0]["rope_parameters"]
    assert rope["rope_type"] == "longrope" and len(rope["short_factor"]) == 32 == len(rope["long_factor"])
    assert rope["original_max_position_embeddings"] == 256


def test_unknown_variant_is_a_clear_error():
    from enginebugs.difftest.models import get_model

    with pytest.raises(KeyError, match="unknown tiny variant 'nope'"):
        get_model("tiny:nope")
