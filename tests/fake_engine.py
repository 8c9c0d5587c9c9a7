"""A deterministic pure-numpy tiny language model that implements the engine protocol.

It exists so that the runner, the oracles and the planted faults can be tested without torch,
llama.cpp or ONNX Runtime: a byte-level tokenizer with greedy longest-match merges (multi-byte
UTF-8 characters are split across tokens, like a byte-level BPE), a 2-layer Llama-like decoder
(RMSNorm, RoPE, causal attention, SwiGLU) with a real KV cache, prefix reuse across calls and
chunked prefill. ``dtype`` emulates f16/bf16/q8_0 by rounding the weights.

Usable in-process (``FakeEngine()``) or as an engine plugin (``tests.fake_engine:create``).
"""
from __future__ import annotations

import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from enginebugs.difftest.protocol import CAPABILITIES, EngineConfig, Generation, ModelSpec, PromptScores, TopK, Unsupported

#: Multi-byte pieces the tokenizer prefers (longest match first) after splitting into words.
PIECES = (
    " the", " and", " of", " to", " a", " in", " is", " that", " for", " it", " with", " as", " on",
    " be", " at", " by", " this", " cache", " token", " engine", " model", "the", "ing", "ion", "ed",
    "er", "re", "th", "he", "in", "an", "on", "en", "at", "or", "es", "st", "nd", "ou", "'s", "'t",
    "'re", "'ll", "  ", "    ", "\n\n", "00", "12", "123", "ë", "é", "日本", "語",
)
SPECIALS = ("<s>", "</s>")
WORD = re.compile(r"""'(?:s|t|re|ll|ve|m|d)| ?[^\W\d_]+| ?\d{1,3}| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""", re.UNICODE)


def _round_bf16(w: np.ndarray) -> np.ndarray:
    bits = w.astype(np.float32).view(np.uint32)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
    return rounded.view(np.float32)


def _round_q8_0(w: np.ndarray) -> np.ndarray:
    flat = w.astype(np.float32).reshape(-1, 32)
    scale = np.abs(flat).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    return (np.round(flat / scale).clip(-127, 127) * scale).reshape(w.shape).astype(np.float32)


ROUNDERS = {
    "f32": lambda w: w.astype(np.float32),
    "f16": lambda w: w.astype(np.float16).astype(np.float32),
    "bf16": _round_bf16,
    "q8_0": _round_q8_0,
}


class FakeTokenizer:
    """Byte-level tokenizer: ids 0..255 are bytes, then :data:`PIECES`, then BOS and EOS."""

    def __init__(self) -> None:
        self.pieces = [bytes([b]) for b in range(256)] + [p.encode() for p in PIECES]
        self.by_bytes = {p: i for i, p in enumerate(self.pieces)}
        self.max_len = max(len(p) for p in self.pieces)
        self.bos_id = len(self.pieces)
        self.eos_id = self.bos_id + 1
        self.vocab_size = self.eos_id + 1

    def encode(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        ids = [self.bos_id] if add_special else []
        parts = re.split("(<s>|</s>)", text) if parse_special else [text]
        for part in parts:
            if parse_special and part in SPECIALS:
                ids.append(self.bos_id if part == "<s>" else self.eos_id)
                continue
            for word in WORD.findall(part):
                ids.extend(self._encode_word(word.encode("utf-8")))
        return ids

    def _encode_word(self, data: bytes) -> list[int]:
        out, i = [], 0
        while i < len(data):
            for n in range(min(self.max_len, len(data) - i), 0, -1):
                piece = self.by_bytes.get(data[i:i + n])
                if piece is not None:
                    out.append(piece)
                    i += n
                    break
        return out

    def offsets(self, text: str) -> list[list[int]]:
        """``[start, end)`` character span of each token ``encode(text, False)`` gives (a byte piece
        inside a multi-byte character spans that character)."""
        spans = []
        for m in WORD.finditer(text):
            word = m.group(0)
            char_of = [c for c, ch in enumerate(word) for _ in ch.encode("utf-8")]
            at = 0
            for token in self._encode_word(word.encode("utf-8")):
                n = len(self.pieces[token])
                spans.append([m.start() + char_of[at], m.start() + char_of[at + n - 1] + 1])
                at += n
        return spans

    def token_bytes(self, token: int) -> bytes:
        return self.pieces[token] if token < len(self.pieces) else b""

    def decode(self, ids: list[int]) -> str:
        return b"".join(self.token_bytes(t) for t in ids).decode("utf-8", errors="replace")

    def stream(self, ids: list[int]) -> list[str]:
        """Incremental decode that holds back incomplete UTF-8 sequences (what a server streams)."""
        chunks, pending = [], b""
        for t in ids:
            pending += self.token_bytes(t)
            try:
                chunks.append(pending.decode("utf-8"))
                pending = b""
            except UnicodeDecodeError as exc:
                if exc.reason == "unexpected end of data":
                    chunks.append("")
                else:
                    chunks.append(pending.decode("utf-8", errors="replace"))
                    pending = b""
        if pending:
            chunks.append(pending.decode("utf-8", errors="replace"))
        return chunks


@lru_cache(maxsize=None)
def _weights(seed: int, vocab: int, dim: int, layers: int, hidden: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = {"embed": rng.normal(0, 1.0, (vocab, dim)), "norm": 1 + rng.normal(0, 0.1, dim)}
    for l in range(layers):
        for name, shape, std in (("wq", (dim, dim), 0.2), ("wk", (dim, dim), 0.2), ("wv", (dim, dim), 0.2),
                                 ("wo", (dim, dim), 0.2), ("w1", (dim, hidden), 0.2),
                                 ("w3", (dim, hidden), 0.2), ("w2", (hidden, dim), 0.15)):
            w[f"{l}.{name}"] = rng.normal(0, std, shape)
        w[f"{l}.attn_norm"] = 1 + rng.normal(0, 0.1, dim)
        w[f"{l}.mlp_norm"] = 1 + rng.normal(0, 0.1, dim)
    w["lm_head"] = rng.normal(0, 0.5, (dim, vocab))
    return {k: v.astype(np.float32) for k, v in w.items()}


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def _rms(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + 1e-6) * g


class TinyDecoder:
    """2 layers, 2 heads of 16, RoPE, SwiGLU; ``forward`` extends a per-layer KV cache."""

    def __init__(self, vocab: int, dtype: str = "f32", seed: int = 1234, dim: int = 32, heads: int = 2,
                 layers: int = 2, hidden: int = 64) -> None:
        if dtype not in ROUNDERS:
            raise Unsupported(f"fake engine has no dtype {dtype!r} (has {', '.join(ROUNDERS)})")
        self.dim, self.heads, self.layers, self.head_dim = dim, heads, layers, dim // heads
        self.w = {k: ROUNDERS[dtype](v) if v.ndim == 2 else v for k, v in
                  _weights(seed, vocab, dim, layers, hidden).items()}

    def _rope(self, x: np.ndarray, positions: np.ndarray) -> np.ndarray:
        half = self.head_dim // 2
        freq = 10000.0 ** (-np.arange(half, dtype=np.float32) / half)
        ang = positions[:, None].astype(np.float32) * freq[None, :]
        cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        x1, x2 = x[..., :half], x[..., half:]
        return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)

    def forward(self, ids: list[int], cache: list[tuple[np.ndarray, np.ndarray]],
                scores_dtype: type = np.float32) -> np.ndarray:
        """Logits for ``ids`` placed after the ``cache`` positions; the cache is extended in place.
        ``scores_dtype`` is the accumulation type of the attention scores (another kernel path)."""
        start = cache[0][0].shape[0] if cache else 0
        pos = np.arange(start, start + len(ids))
        x = self.w["embed"][ids]
        for l in range(self.layers):
            h = _rms(x, self.w[f"{l}.attn_norm"])
            q, k, v = (h @ self.w[f"{l}.{n}"] for n in ("wq", "wk", "wv"))
            q, k, v = (t.reshape(len(ids), self.heads, self.head_dim) for t in (q, k, v))
            q, k = self._rope(q, pos), self._rope(k, pos)
            if len(cache) <= l:
                cache.append((np.zeros((0, self.heads, self.head_dim), np.float32),) * 2)
            k_all = np.concatenate([cache[l][0], k]).astype(np.float32)
            v_all = np.concatenate([cache[l][1], v]).astype(np.float32)
            cache[l] = (k_all, v_all)
            att = np.einsum("qhd,khd->hqk", q.astype(scores_dtype), k_all.astype(scores_dtype))
            att = (att / np.sqrt(self.head_dim)).astype(np.float32)
            mask = pos[:, None] < np.arange(k_all.shape[0])[None, :]
            att = np.where(mask[None], -np.inf, att)
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            o = np.einsum("hqk,khd->qhd", att, v_all).reshape(len(ids), self.dim)
            x = x + o @ self.w[f"{l}.wo"]
            h = _rms(x, self.w[f"{l}.mlp_norm"])
            a, b = h @ self.w[f"{l}.w1"], h @ self.w[f"{l}.w3"]
            x = x + (a / (1 + np.exp(-a)) * b) @ self.w[f"{l}.w2"]
        return (_rms(x, self.w["norm"]) @ self.w["lm_head"]).astype(np.float32)


def _topk(logprobs: np.ndarray, k: int) -> TopK:
    order = np.argsort(-logprobs, kind="stable")[:k]
    return TopK([int(i) for i in order], [float(logprobs[i]) for i in order])


class FakeEngine:
    """The protocol implemented on :class:`TinyDecoder`. Options: ``prefill_chunk`` (tokens per
    prefill step, 0 = whole prompt), ``prefix_cache`` (reuse the previous call's KV for the
    common prefix, default on)."""

    name = "fake"
    capabilities = CAPABILITIES - {"seeded_sampling", "threads", "kv_cache_toggle"}

    def __init__(self) -> None:
        self.tok = FakeTokenizer()
        self.model: TinyDecoder | None = None
        self.config: EngineConfig | None = None
        self._cached_ids: list[int] = []
        self._cache: list[tuple[np.ndarray, np.ndarray]] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-engine-")
        self._files = 0

    # -- life cycle ----------------------------------------------------------------------------
    def load(self, model: ModelSpec, config: EngineConfig) -> None:
        self.config = config
        self.model = TinyDecoder(self.tok.vocab_size, config.dtype)

    def fingerprint(self) -> dict[str, Any]:
        return {"engine": "fake", "numpy": np.__version__, "dtype": self.config.dtype if self.config else None,
                "options": dict(self.config.options) if self.config else {}}

    def close(self) -> None:
        self._tmp.cleanup()

    # -- tokenizer -----------------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        return self.tok.encode(text, add_special, parse_special)

    def token_offsets(self, text: str, add_special: bool = False) -> list[list[int]]:
        return ([[0, 0]] if add_special else []) + self.tok.offsets(text)

    def detokenize(self, ids: list[int]) -> str:
        return self.tok.decode(ids)

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        return self.tok.stream(ids)

    # -- model ---------------------------------------------------------------------------------
    def _option(self, key: str, default: Any) -> Any:
        return (self.config.options if self.config else {}).get(key, default)

    def _prefill(self, ids: list[int], cache: list, reuse: int = 0) -> np.ndarray:
        """Logits of ``ids[reuse:]`` computed after a cache already holding ``ids[:reuse]``. Chunked
        prefill takes another kernel path (float64 attention scores), as real engines do: its
        rounding differs from the whole-prompt path on every machine, whatever BLAS does."""
        chunk = int(self._option("prefill_chunk", 0))
        scores_dtype = np.float64 if chunk else np.float32
        chunk = chunk or len(ids)
        out = [self.model.forward(ids[s:s + chunk], cache, scores_dtype) for s in range(reuse, len(ids), chunk)]
        return np.concatenate(out) if out else np.zeros((0, self.tok.vocab_size), np.float32)

    def prompt_logprobs(self, ids: list[int], top_k: int = 10, full: bool = False) -> PromptScores:
        lp = _log_softmax(self._prefill(list(ids), []))[:-1]
        scores = PromptScores(list(ids), [float(lp[i, ids[i + 1]]) for i in range(len(lp))],
                              [_topk(row, top_k) for row in lp])
        if full:
            self._files += 1
            path = Path(self._tmp.name) / f"scores-{self._files}.npy"
            np.save(path, lp.astype(np.float32))
            scores.full_logprobs_file = str(path)
        return scores

    def _reusable_prefix(self, ids: list[int]) -> int:
        if not self._option("prefix_cache", True):
            return 0
        n = 0
        for a, b in zip(self._cached_ids, ids):
            if a != b:
                break
            n += 1
        return min(n, len(ids) - 1)  # always recompute the last prompt token to get its logits

    def _truncate_cache(self, n: int) -> None:
        self._cache = [(k[:n], v[:n]) for k, v in self._cache]
        self._cached_ids = self._cached_ids[:n]

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        if seed is not None:
            raise Unsupported("the fake engine only decodes greedily")
        reuse = self._reusable_prefix(list(ids))
        self._truncate_cache(reuse)
        logits = self._prefill(list(ids), self._cache, reuse)[-1]
        self._cached_ids = list(ids)
        new, tops = [], []
        for _ in range(max_new_tokens):
            lp = _log_softmax(logits)
            tops.append(_topk(lp, top_k))
            token = int(np.argmax(lp))
            new.append(token)
            logits = self.model.forward([token], self._cache)[-1]
            self._cached_ids.append(token)
        return Generation(list(ids), new, tops, self.tok.decode(new))

    def next_logprobs(self, ids: list[int]) -> np.ndarray:
        """Full log-probabilities of the token after ``ids`` (no cache)."""
        return _log_softmax(self._prefill(list(ids), [])[-1])

    def sample_next(self, ids: list[int], n: int, settings: dict, seed: int) -> list[int]:
        """``n`` draws with the transformers-order sampler chain (the fake engine's documented one)."""
        from enginebugs.difftest.oracles.sampler_chain import SamplerSettings, next_token_distribution, sample

        probs, _ = next_token_distribution(self.next_logprobs(ids), SamplerSettings(**settings), margin=0.0)
        return sample(probs, n, np.random.default_rng(seed))

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10) -> list[Generation]:
        out = []
        for ids in batch:
            self._truncate_cache(0)
            out.append(self.generate(ids, max_new_tokens, top_k))
        self._truncate_cache(0)
        return out


def create() -> FakeEngine:
    """Entry point for ``--engine-plugin tests.fake_engine:create``."""
    return FakeEngine()


def fake_model() -> ModelSpec:
    tok = FakeTokenizer()
    return ModelSpec("fake", {}, recipe_hash="fake-v1", context_length=512, vocab_size=tok.vocab_size,
                     bos_token_id=tok.bos_id, eos_token_id=tok.eos_id)


def in_process_factory(model: ModelSpec | None = None):
    """Runner client factory: the fake engine, or a planted fault (``enginebugs.difftest.faults``) wrapping
    it when the configuration names one, all in this process."""
    from enginebugs.difftest import faults
    from enginebugs.difftest.inprocess import InProcessClient

    model = model or fake_model()

    def make(config: EngineConfig) -> InProcessClient:
        fault = faults.FAULTS.get(config.engine)
        return InProcessClient(fault(FakeEngine()) if fault else FakeEngine(), model, config)
    return make


def run_fake(specs: list[str], suite: str = "smoke", profile: str = "default", **options: Any):
    """Run the runner in-process over fake-engine configurations (``fake:f32``,
    ``logit_noise:f32:wraps=fake``, ...); returns the RunResult."""
    from enginebugs.difftest.runner import Runner, RunOptions, parse_config
    from enginebugs.difftest.suites import load_suite
    from enginebugs.difftest.tolerances import load_profile

    options.setdefault("progress", False)
    opts = RunOptions(profile=load_profile(profile), **options)
    return Runner(fake_model(), [parse_config(s) for s in specs], load_suite(suite), opts,
                  client_factory=in_process_factory()).run()
