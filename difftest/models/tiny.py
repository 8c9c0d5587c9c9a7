"""The default model: a tiny Llama with random weights from a fixed seed and a project-trained BPE tokenizer.

Head dimension 64 (vLLM's CPU attention rejects 16), grouped-query attention (2 query heads, 1 KV
head), byte-level BPE with the GPT-2 pre-tokenizer regex so llama.cpp's ``gpt2`` tokenizer and the
``tokenizers`` library split text the same way.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from enginebugs import datasets

from .cache import file_digest

CORPUS_DIR = datasets.path("tokenizer_corpus")
BOS, EOS, PAD = "<s>", "</s>", "<pad>"

#: Everything that determines the built files. Bump ``version`` when the builder code changes output.
ARCH: dict[str, Any] = {
    "vocab_size": 2048,
    "hidden_size": 128,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "max_position_embeddings": 512,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-5,
}
SEED = 20260
#: Standard deviations of the random weights, chosen so attention is not uniform and logits spread
#: over a few nats (the default 0.02 init gives a near-flat distribution that hides divergences).
WEIGHT_STD = {"embed": 1.0, "qk": 0.15, "vo": 0.09, "mlp": 0.09, "lm_head": 0.2, "norm_jitter": 0.1}


def corpus_files() -> list[Path]:
    return sorted(CORPUS_DIR.glob("*.txt"))


def recipe() -> dict[str, Any]:
    return {
        "name": "tiny", "version": 3, "arch": ARCH, "seed": SEED, "weight_std": WEIGHT_STD,
        "tokenizer": {"type": "byte-level-bpe", "specials": [BOS, EOS, PAD], "min_frequency": 2},
        "corpus": {p.name: file_digest(p)[:16] for p in corpus_files()},
    }


def train_tokenizer():
    """A byte-level BPE trained on the shipped corpus; ``<s>`` is prepended as BOS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=ARCH["vocab_size"], min_frequency=2, special_tokens=[BOS, EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train([str(p) for p in corpus_files()], trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)])
    if tok.get_vocab_size() != ARCH["vocab_size"]:
        raise RuntimeError(f"tokenizer has {tok.get_vocab_size()} tokens, expected {ARCH['vocab_size']}")
    return tok


def random_state_dict(seed: int = SEED, arch: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """HF Llama parameter names -> float32 arrays drawn from a fixed-seed PCG64 generator."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a, std = arch or ARCH, WEIGHT_STD
    d, hd, ff = a["hidden_size"], a["head_dim"], a["intermediate_size"]
    q_out, kv_out = a["num_attention_heads"] * hd, a["num_key_value_heads"] * hd

    def w(shape: tuple[int, ...], s: float) -> np.ndarray:
        return rng.normal(0.0, s, size=shape).astype(np.float32)

    def norm() -> np.ndarray:
        return (1.0 + rng.normal(0.0, std["norm_jitter"], size=(d,))).astype(np.float32)

    sd = {"model.embed_tokens.weight": w((a["vocab_size"], d), std["embed"])}
    for i in range(a["num_hidden_layers"]):
        p = f"model.layers.{i}."
        sd[p + "input_layernorm.weight"] = norm()
        sd[p + "self_attn.q_proj.weight"] = w((q_out, d), std["qk"])
        sd[p + "self_attn.k_proj.weight"] = w((kv_out, d), std["qk"])
        sd[p + "self_attn.v_proj.weight"] = w((kv_out, d), std["vo"])
        sd[p + "self_attn.o_proj.weight"] = w((d, q_out), std["vo"])
        sd[p + "post_attention_layernorm.weight"] = norm()
        sd[p + "mlp.gate_proj.weight"] = w((ff, d), std["mlp"])
        sd[p + "mlp.up_proj.weight"] = w((ff, d), std["mlp"])
        sd[p + "mlp.down_proj.weight"] = w((d, ff), std["mlp"])
    sd["model.norm.weight"] = norm()
    sd["lm_head.weight"] = w((a["vocab_size"], d), std["lm_head"])
    return sd


def build_hf(out_dir: Path) -> None:
    """Write the HF checkpoint (config, safetensors, tokenizer) into ``out_dir``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = train_tokenizer()
    config = LlamaConfig(
        **ARCH, hidden_act="silu", tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
        bos_token_id=tok.token_to_id(BOS), eos_token_id=tok.token_to_id(EOS), pad_token_id=tok.token_to_id(PAD),
        torch_dtype="float32")
    save_checkpoint(LlamaForCausalLM(config), random_state_dict(), tok, out_dir)
    (out_dir / "recipe.json").write_text(json.dumps(recipe(), indent=2, sort_keys=True))


def save_checkpoint(model: Any, state: dict[str, np.ndarray], tok: Any, out_dir: Path) -> None:
    """Load ``state`` into ``model`` (strictly, but for rotary buffers and a tied head) and write it
    with the fast tokenizer ``tok`` to ``out_dir``."""
    import torch
    from transformers import PreTrainedTokenizerFast

    missing, unexpected = model.load_state_dict({k: torch.from_numpy(a) for k, a in state.items()}, strict=False)
    tied = getattr(model.config, "tie_word_embeddings", False)
    missing = [m for m in missing if "rotary_emb" not in m and not (m == "lm_head.weight" and tied)]
    if missing or unexpected:
        raise RuntimeError(f"state dict mismatch: missing={missing} unexpected={unexpected}")
    model.generation_config.do_sample = False
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   clean_up_tokenization_spaces=False, add_bos_token=True)
    fast.save_pretrained(out_dir)


# ------------------------------------------------------------------------------- the variant family
#: The chat-template variant's template: role-prefixed turns, the assistant's inside generation tags.
CHAT_TEMPLATE = ("{% for m in messages %}{% if m['role'] == 'assistant' %}{{ 'assistant: ' }}{% generation %}"
                 "{{ m['content'] + eos_token }}{% endgeneration %}{% else %}{{ m['role'] + ': ' + m['content'] + '\\n' }}"
                 "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}")
#: Added (non-special) tokens of the added-token variants: markup-like, non-ASCII, a literal "▁".
ADDED_TOKENS = ["<|sep|>", "«τέλος»", "<|开始|>", "▁marker", "ü»"]
#: ``tiny:<variant>``: what each variant changes from the default recipe (same corpus, same seed).
#: ``tokenizer``: byte-level (GPT-2 style BPE, the default) or metaspace (SentencePiece-style:
#: ``▁`` for spaces, byte fallback); ``tokenizer_class``: what tokenizer_config.json declares;
#: ``added``: extra added tokens (non-special); ``normalizer``: a normalizer in front of the
#: pre-tokenizer; ``arch``: llama or gemma3 (sliding window); ``arch_overrides``: ARCH changes.
VARIANTS: dict[str, dict[str, Any]] = {
    "llama": {},
    "llamafast": {"tokenizer_class": "LlamaTokenizerFast"},
    "metaspace": {"tokenizer": "metaspace", "tokenizer_class": "LlamaTokenizerFast"},
    "added-tokens": {"added": ADDED_TOKENS, "normalizer": "nfkc"},
    "gemma3-sw": {"arch": "gemma3", "sliding_window": 48},
    "gqa": {"arch_overrides": {"num_attention_heads": 4, "num_key_value_heads": 2}},
    # A config that asks decode to clean up spaces before punctuation (GPT-2/BERT-era configs do).
    "cleanup": {"clean_up_tokenization_spaces": True},
    # SentencePiece-style (Metaspace, prepend_scheme "first") with added tokens (not special, so
    # text holding them splits there): where a piece of text right after one gets its "▁" matters.
    "metaspace-added": {"tokenizer": "metaspace", "added": ADDED_TOKENS},
    # Whole words appended to the vocabulary without merges, with ignore_merges (as in Llama 3's
    # tiktoken-converted vocabulary): only a tokenizer that honours ignore_merges gives one token.
    "ignore-merges": {"whole_words": [" sliding", " latency", " window", " median", " slowest", " measured",
                                      " crossed", " story"]},
    # Byte-level mapping as a normalizer (tokenizers >= 0.20, Llama-3-style regex split after it)
    # and added non-ASCII tokens matched on the normalized text (AddedToken's default for
    # non-special tokens): how their content is decoded is a surface of its own.
    "bytelevel-normalizer": {"added": ADDED_TOKENS, "added_normalized": True,
                             "normalizer": "byte-level"},
    # A chat template that marks the assistant's span with {% generation %} ... {% endgeneration %}
    # (transformers' tag for training masks); the GGUF carries it as tokenizer.chat_template.
    "chat-template": {"chat_template": CHAT_TEMPLATE},
    # YaRN RoPE scaling (Qwen/DeepSeek-style long-context configs): 512 positions over a pre-YaRN
    # context of 128, the factor equal to that ratio (yarn) or set apart from it (yarn-factor:
    # the explicit factor must win).
    "yarn": {"arch_overrides": {"rope_scaling": {"rope_type": "yarn", "factor": 4.0,
                                                 "original_max_position_embeddings": 128}}},
    "yarn-factor": {"arch_overrides": {"rope_scaling": {"rope_type": "yarn", "factor": 2.0,
                                                        "original_max_position_embeddings": 128}}},
    # LongRoPE (Phi-3-style per-frequency factors) with the pre-training length inside the RoPE
    # parameters; 256 is longer than any prompt plus generation of the suites, so the short
    # factors apply throughout (no switch to the long ones mid-generation).
    "longrope": {"arch_overrides": {"rope_scaling": {
        "rope_type": "longrope", "original_max_position_embeddings": 256,
        "short_factor": [round(1.0 + i / 32, 4) for i in range(32)],
        "long_factor": [round(2.0 + i / 16, 4) for i in range(32)]}}},
}
#: The split pattern of the byte-level-normalizer variant (Llama 3's, applied to byte-mapped text).
SPLIT_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
NO_GGUF_METASPACE = "to_gguf writes GPT-2 byte-level BPE vocabularies only, not SentencePiece-style ones"
NO_GGUF_ROPE_SCALING = "to_gguf writes no RoPE scaling metadata"
#: Formats a variant cannot be written in, and why (the engines that need them skip it with this).
UNSUPPORTED_FORMATS = {
    "metaspace": {"gguf": NO_GGUF_METASPACE},
    "gemma3-sw": {"gguf": "to_gguf writes the Llama architecture only"},
    "metaspace-added": {"gguf": NO_GGUF_METASPACE},
    "ignore-merges": {"gguf": "to_gguf writes a gpt2 pre-tokenizer, whose llama.cpp BPE does not skip merges for "
                              "words in the vocabulary (ignore_merges)"},
    "bytelevel-normalizer": {"gguf": "GGUF names a fixed llama.cpp pre-tokenizer; a byte-level normalizer "
                                     "before a regex split has no GGUF spelling"},
    "yarn": {"gguf": NO_GGUF_ROPE_SCALING},
    "yarn-factor": {"gguf": NO_GGUF_ROPE_SCALING},
    "longrope": {"gguf": NO_GGUF_ROPE_SCALING,
                 "onnx": "the TorchScript ONNX exporter cannot trace LongRoPE's in-place frequency switch (aten::copy)"},
}


def variant_recipe(variant: str) -> dict[str, Any]:
    if variant not in VARIANTS:
        raise KeyError(f"unknown tiny variant {variant!r}; choose one of {', '.join(VARIANTS)} (or all)")
    if variant == "llama":
        return recipe()
    return {**recipe(), "name": f"tiny:{variant}", "variant": VARIANTS[variant], "variant_version": 2}


def variant_arch(variant: str) -> dict[str, Any]:
    return {**ARCH, **VARIANTS[variant].get("arch_overrides", {})}


def train_variant_tokenizer(variant: str):
    """The tokenizer of ``variant`` (the default one for byte-level variants without extras)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    v = VARIANTS[variant]
    if v.get("tokenizer", "byte-level") == "byte-level" and not v.get("normalizer") and not v.get("whole_words"):
        tok = train_tokenizer()
    else:
        size = ARCH["vocab_size"] - len(v.get("added", [])) - len(v.get("whole_words", []))
        if v.get("tokenizer") == "metaspace":
            tok = Tokenizer(models.BPE(byte_fallback=True, unk_token=None))
            tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
            tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                             decoders.Strip(content=" ", left=1, right=0)])
            alphabet = [f"<0x{b:02X}>" for b in range(256)]
            trainer = trainers.BpeTrainer(vocab_size=size, min_frequency=2,  # the specials count in it
                                          special_tokens=[BOS, EOS, PAD] + alphabet, show_progress=False)
        else:
            tok = Tokenizer(models.BPE())
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
            tok.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(vocab_size=size, min_frequency=2, special_tokens=[BOS, EOS, PAD],
                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        if v.get("normalizer") == "nfkc":
            tok.normalizer = normalizers.NFKC()
        tok.train([str(p) for p in corpus_files()], trainer)
        if v.get("normalizer") == "byte-level":  # the same vocabulary, the byte mapping moved up front
            from tokenizers import Regex

            tok.normalizer = normalizers.ByteLevel()
            tok.pre_tokenizer = pre_tokenizers.Split(Regex(SPLIT_REGEX), behavior="isolated")
        if v.get("whole_words"):
            tok = with_whole_words(tok, v["whole_words"])
        tok.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))])
    if v.get("added"):
        tok.add_tokens([AddedToken(t, normalized=bool(v.get("added_normalized"))) for t in v["added"]])
    vocab = tok.get_vocab_size()
    if vocab != ARCH["vocab_size"]:  # an added token already in the vocabulary leaves a hole in the ids
        raise RuntimeError(f"tiny:{variant} tokenizer has {vocab} tokens, not {ARCH['vocab_size']}")
    return tok


def with_whole_words(tok: Any, words: list[str]) -> Any:
    """``tok`` with ``words`` appended to its BPE vocabulary as whole tokens that no merge builds
    (a vocabulary extended the way tiktoken-converted ones are) and ``ignore_merges`` set, so a
    pre-tokenized word found in the vocabulary is one token."""
    from tokenizers import Tokenizer, pre_tokenizers

    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    mapped = ["".join(t for t, _ in pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
                      .pre_tokenize_str(w)) for w in words]
    for word in mapped:
        if word in vocab:
            raise RuntimeError(f"whole word {word!r} is already in the trained vocabulary")
        vocab[word] = len(vocab)
    spec["model"]["ignore_merges"] = True
    return Tokenizer.from_str(json.dumps(spec))


def gemma3_state_dict(model: Any, seed: int = SEED) -> dict[str, np.ndarray]:
    """Gemma 3 parameters drawn like the Llama ones (its norms scale by ``1 + w``: jitter around 0)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    out = {}
    for name, p in model.state_dict().items():
        if name.endswith("norm.weight"):
            out[name] = rng.normal(0.0, WEIGHT_STD["norm_jitter"], size=tuple(p.shape)).astype(np.float32)
        else:
            s = next((WEIGHT_STD[k] for key, k in (("embed", "embed"), ("q_proj", "qk"), ("k_proj", "qk"),
                                                     ("v_proj", "vo"), ("o_proj", "vo"), ("mlp", "mlp"),
                                                     ("lm_head", "lm_head")) if key in name), 0.05)
            out[name] = rng.normal(0.0, s, size=tuple(p.shape)).astype(np.float32)
    return out


def build_variant_hf(variant: str, out_dir: Path) -> None:
    """Write ``tiny:<variant>``'s HF checkpoint into ``out_dir``."""
    if variant == "llama":
        return build_hf(out_dir)
    v, tok = VARIANTS[variant], train_variant_tokenizer(variant)
    ids = {"bos_token_id": tok.token_to_id(BOS), "eos_token_id": tok.token_to_id(EOS), "pad_token_id": tok.token_to_id(PAD)}
    arch = variant_arch(variant)
    if v.get("arch") == "gemma3":
        from transformers import Gemma3ForCausalLM, Gemma3TextConfig

        keep = {k: arch[k] for k in ("vocab_size", "hidden_size", "num_attention_heads", "num_key_value_heads",
                                     "head_dim", "intermediate_size", "num_hidden_layers", "max_position_embeddings",
                                     "rms_norm_eps")}
        config = Gemma3TextConfig(**keep, **ids, sliding_window=v["sliding_window"],
                                  layer_types=["sliding_attention", "full_attention"], tie_word_embeddings=True)
        model = Gemma3ForCausalLM(config)
        state = gemma3_state_dict(model)
    else:
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(**arch, hidden_act="silu", tie_word_embeddings=False, attention_bias=False,
                             mlp_bias=False, **ids)
        model = LlamaForCausalLM(config)
        state = random_state_dict(SEED, arch)
    save_checkpoint(model, state, tok, out_dir)
    path = out_dir / "tokenizer_config.json"
    cfg = json.loads(path.read_text())
    if v.get("tokenizer_class"):
        cfg["tokenizer_class"] = v["tokenizer_class"]
        cfg.pop("backend", None)
    cfg["clean_up_tokenization_spaces"] = bool(v.get("clean_up_tokenization_spaces", False))
    if v.get("chat_template"):
        cfg["chat_template"] = v["chat_template"]
    path.write_text(json.dumps(cfg, indent=2))
    (out_dir / "recipe.json").write_text(json.dumps(variant_recipe(variant), indent=2, sort_keys=True))

