"""Tokenizer campaign: llama.cpp's tokenizer (from the GGUF) vs the HF tokenizer built from the same
GGUF, over every vocabulary entry, the generated edge-case strings, a random word/character soup
and the suite's prompts.

Both tokenizers are the engine adapters' own ``tokenize``/``detokenize`` methods on a tokenizer-only
load (llama.cpp ``vocab_only``, ``AutoTokenizer``), in this process: the vocabulary sweep makes
about a million calls, which a worker pipe would turn into minutes. Each check goes through the
tokenization oracles (:mod:`enginebugs.difftest.oracles.tokenization`); failures are also sorted into mismatch
classes (:data:`CLASSES`) with examples, and each tokenizer's throughput is measured.
"""
from __future__ import annotations

import random
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from enginebugs.difftest.checks import Outcome
from enginebugs.difftest.oracles import tokenization
from enginebugs.difftest.oracles.base import first_difference
from enginebugs.difftest.protocol import EngineConfig, ModelSpec
from enginebugs.difftest.strings import GENERATORS, cases

CLASSES = {
    "special-token": "the text contains a special, control or added token's literal, or one side produced a "
                     "special id",
    "byte-fallback": "one side fell back to byte tokens (<0xNN>) where the other did not",
    "whitespace": "the sides disagree on whitespace: runs of spaces/newlines/tabs, or which piece a space joins",
    "unicode-normalization": "the text is not NFC/NFKC-normal (compatibility characters, combining marks)",
    "digits": "the divergent pieces contain digits (number splitting)",
    "segmentation": "same characters, different split into vocabulary pieces (merge order, longest match)",
    "decode:special-token": "the same ids decode differently: a special token rendered on one side only",
    "decode:byte-token": "the same ids decode differently: byte tokens rendered differently",
    "decode:dropped-piece": "the same id decodes to nothing on one side (e.g. a piece longer than the "
                            "decoder's buffer)",
    "decode:leading-space": "the same ids decode differently only by a leading space (SentencePiece prefix space)",
    "decode:other": "the same ids decode to different text",
}
EXAMPLES_PER_CLASS = 5
WHITESPACE_PIECE = set(" \t\n\r\u2581\u00a0\u3000\u2009\u200b")


class TokenizerUnavailable(RuntimeError):
    """A tokenizer-only load is impossible (package missing, no GGUF/HF files)."""


@dataclass
class Side:
    """One tokenizer: the adapter whose ``tokenize``/``detokenize`` it is, timed per input source."""

    label: str
    engine: Any
    seconds: Counter = field(default_factory=Counter)
    strings: Counter = field(default_factory=Counter)
    tokens: Counter = field(default_factory=Counter)

    def encode(self, source: str, text: str, add_special: bool = False) -> list[int]:
        t0 = time.perf_counter()
        ids = self.engine.tokenize(text, add_special=add_special)
        self.seconds[source] += time.perf_counter() - t0
        self.strings[source] += 1
        self.tokens[source] += len(ids)
        return ids

    def decode(self, ids: list[int]) -> str:
        return self.engine.detokenize(ids)


def load_tokenizers(model: ModelSpec, expected: EngineConfig, actual: EngineConfig) -> tuple[Side, Side]:
    """The HF tokenizer of ``model.files['hf']`` and llama.cpp's of the GGUF ``actual`` runs."""
    from enginebugs.difftest.engines.registry import create_engine

    gguf = model.files.get(f"gguf-{actual.dtype}") or next((v for k, v in model.files.items()
                                                            if k.startswith("gguf-")), None)
    if "hf" not in model.files or gguf is None:
        raise TokenizerUnavailable(f"model {model.name} lacks an HF checkpoint or a GGUF "
                                   f"(has {', '.join(sorted(model.files))})")
    try:
        import llama_cpp
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise TokenizerUnavailable(f"{exc.name} is not installed") from None
    hf = create_engine("transformers")
    hf.tok = AutoTokenizer.from_pretrained(model.files["hf"])  # the attribute the adapter's methods use
    lc = create_engine("llamacpp")
    lc.llm = llama_cpp.Llama(model_path=gguf, vocab_only=True, verbose=False)
    return Side(expected.label, hf), Side(actual.label, lc)


def soup(seed: int, n: int) -> list[str]:
    """Random word/character soup: 2-6 fragments drawn from the edge-case generators (words, Unicode
    blocks, digits, code, emoji, whitespace, special-token look-alikes) joined by random separators."""
    rng = random.Random(f"{seed}:soup")
    names = sorted(GENERATORS)
    out = []
    for _ in range(n):
        frags = [GENERATORS[rng.choice(names)](rng, 1)[0] for _ in range(rng.randint(2, 6))]
        out.append("".join(f + rng.choice(("", "", " ", "  ", "\n", "\t", "-")) for f in frags))
    return out


class TokenizerCampaign:
    """Yields the tokenization oracles' outcomes and collects mismatch classes and throughput."""

    def __init__(self, expected: Side, actual: Side, special_ids: set[int], special_texts: list[str],
                 pieces: Callable[[list[int]], list[str]]) -> None:
        self.expected, self.actual = expected, actual
        self.special_ids, self.special_texts, self.pieces = special_ids, special_texts, pieces
        self.by_class: Counter = Counter()
        self.by_source: dict[str, Counter] = defaultdict(Counter)
        self.examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.checked: Counter = Counter()
        self.identity: dict[str, Counter] = {expected.label: Counter(), actual.label: Counter()}
        self.decode_seconds: Counter = Counter()

    @classmethod
    def from_sides(cls, expected: Side, actual: Side) -> "TokenizerCampaign":
        tok = expected.engine.tok
        special_ids = set(getattr(tok, "all_special_ids", []) or [])
        added = getattr(tok, "added_tokens_decoder", {}) or {}
        special_ids |= {i for i, t in added.items() if getattr(t, "special", False)}
        texts = sorted({str(t) for t in added.values()} | {str(tok.convert_ids_to_tokens(i)) for i in special_ids}
                       - {""}, key=len, reverse=True)
        return cls(expected, actual, special_ids, texts, lambda ids: [str(p) for p in tok.convert_ids_to_tokens(ids)])

    # -- classification --------------------------------------------------------------------------
    def classify_ids(self, text: str, a: list[int], b: list[int]) -> str:
        i = first_difference(a, b) or 0
        region = self.pieces(a[i:i + 3]) + self.pieces(b[i:i + 3])
        if self.special_ids & (set(a) | set(b)) or any(t in text for t in self.special_texts):
            return "special-token"
        if any(p.startswith("<0x") for p in region):
            return "byte-fallback"
        stripped = lambda ps: "".join(c for p in ps for c in p if c not in WHITESPACE_PIECE)  # noqa: E731
        if any(p and set(p) <= WHITESPACE_PIECE for p in region) or (
                stripped(self.pieces(a[i:i + 3])) == stripped(self.pieces(b[i:i + 3])) and region):
            return "whitespace"
        if unicodedata.normalize("NFKC", text) != text or unicodedata.normalize("NFC", text) != text:
            return "unicode-normalization"
        if any(c.isdigit() for p in region for c in p):
            return "digits"
        return "segmentation"

    def classify_decode(self, ids: list[int], expected: str, actual: str) -> str:
        if self.special_ids & set(ids):
            return "decode:special-token"
        if expected and not actual:
            return "decode:dropped-piece"
        if any(p.startswith("<0x") for p in self.pieces(ids)):
            return "decode:byte-token"
        if expected.lstrip(" ") == actual.lstrip(" "):
            return "decode:leading-space"
        return "decode:other"

    def _record(self, cls: str, source: str, text: str, expected: Any, actual: Any) -> None:
        self.by_class[cls] += 1
        self.by_source[cls][source] += 1
        if len(self.examples[cls]) < EXAMPLES_PER_CLASS:
            self.examples[cls].append({"source": source, "text": text[:300], "expected": str(expected)[:300],
                                       "actual": str(actual)[:300]})

    # -- checks ----------------------------------------------------------------------------------
    def _outcome(self, oracle: str, sides: tuple[Side, ...], text: str, verdict: Any) -> Outcome:
        return Outcome(oracle, tuple(s.label for s in sides), tuple(s.engine.name for s in sides), text,
                       verdict=verdict)

    def check_text(self, source: str, text: str, add_special: bool = False) -> Iterator[Outcome]:
        """ids across tokenizers, decode of the reference ids by both, each side's round trip."""
        e, a = self.expected, self.actual
        ids_e, ids_a = e.encode(source, text, add_special), a.encode(source, text, add_special)
        self.checked[source] += 1
        verdict = tokenization.token_ids_match(text, ids_e, ids_a)
        if not verdict.ok:
            self._record(self.classify_ids(text, ids_e, ids_a), source, text, self.pieces(ids_e), self.pieces(ids_a))
        yield self._outcome("tokenization.ids", (e, a), text, verdict)
        dec_e, dec_a = e.decode(ids_e), a.decode(ids_e)
        verdict = tokenization.decode_match(ids_e, dec_e, dec_a)
        if not verdict.ok:
            self._record(self.classify_decode(ids_e, dec_e, dec_a), source, text, repr(dec_e), repr(dec_a))
        yield self._outcome("tokenization.decode", (e, a), text, verdict)
        if add_special:
            return  # a BOS makes decode(encode(text)) != text by design
        yield self._outcome("tokenization.round_trip", (e,), text, tokenization.round_trip(text, ids_e, dec_e))
        own = dec_e if ids_a == ids_e else a.decode(ids_a)
        yield self._outcome("tokenization.round_trip", (a,), text, tokenization.round_trip(
            text, ids_a, own, reference_ids=ids_e, reference_decoded=dec_e))

    def check_vocabulary(self, size: int, advance: Callable[[int], None] = lambda n: None) -> Iterator[Outcome]:
        """Every id: both decoders render it alike, and both encoders split the reference's
        rendering alike; counts how often encode(decode(id)) == [id] on each side."""
        e, a = self.expected, self.actual
        for i in range(size):
            t0 = time.perf_counter()
            text_e = e.decode([i])
            t1 = time.perf_counter()
            text_a = a.decode([i])
            self.decode_seconds[e.label] += t1 - t0
            self.decode_seconds[a.label] += time.perf_counter() - t1
            self.checked["vocabulary"] += 1
            verdict = tokenization.decode_match([i], text_e, text_a)
            if not verdict.ok:
                self._record(self.classify_decode([i], text_e, text_a), "vocabulary", f"id {i}", repr(text_e),
                             repr(text_a))
            yield self._outcome("tokenization.decode", (e, a), f"vocabulary id {i}", verdict)
            if text_e:
                ids_e, ids_a = e.encode("vocabulary", text_e), a.encode("vocabulary", text_e)
                self.identity[e.label]["identity"] += ids_e == [i]
                self.identity[a.label]["identity"] += ids_a == [i]
                verdict = tokenization.token_ids_match(text_e, ids_e, ids_a)
                if not verdict.ok:
                    self._record(self.classify_ids(text_e, ids_e, ids_a), "vocabulary", text_e, self.pieces(ids_e),
                                 self.pieces(ids_a))
                yield self._outcome("tokenization.ids", (e, a), text_e, verdict)
            if i % 1024 == 1023:
                advance(1024)
        advance(size % 1024)

    def summary(self) -> dict[str, Any]:
        throughput = []
        for side in (self.expected, self.actual):
            for source in side.strings:
                secs = side.seconds[source] or 1e-9
                throughput.append({"engine": side.label, "source": f"{source} (encode)", "strings": side.strings[source],
                                   "tokens": side.tokens[source], "seconds": round(secs, 4),
                                   "strings_per_s": side.strings[source] / secs, "tokens_per_s": side.tokens[source] / secs})
            if self.checked["vocabulary"]:
                secs = self.decode_seconds[side.label] or 1e-9
                throughput.append({"engine": side.label, "source": "vocabulary (decode one id)",
                                   "strings": self.checked["vocabulary"], "tokens": self.checked["vocabulary"],
                                   "seconds": round(secs, 4), "strings_per_s": self.checked["vocabulary"] / secs,
                                   "tokens_per_s": self.checked["vocabulary"] / secs})
        vocab = self.checked["vocabulary"]
        return {
            "engines": [self.expected.label, self.actual.label],
            "checked": dict(self.checked),
            "throughput": throughput,
            "round_trip_identity_pct": {label: 100.0 * c["identity"] / vocab for label, c in self.identity.items()}
            if vocab else {},
            "mismatches": {"by_class": dict(self.by_class), "by_source": {c: dict(s) for c, s in self.by_source.items()},
                           "examples": dict(self.examples),
                           "descriptions": {c: CLASSES[c] for c in self.by_class}},
            "notes": [f"encode(decode(id)) == [id] for {pct:.2f}% of the vocabulary with {label}"
                      for label, pct in ({label: 100.0 * c["identity"] / vocab for label, c in self.identity.items()}
                                         if vocab else {}).items()],
        }


def all_checks(campaign: TokenizerCampaign, vocab_size: int, prompts: list[str], seed: int, per_generator: int,
               soup_count: int, advance: Callable[[int], None] = lambda n: None) -> Iterator[Outcome]:
    """Vocabulary, edge cases, soup, prompts, in that order (a generator: outcomes are not kept)."""
    yield from campaign.check_vocabulary(vocab_size, advance)
    for source, text in cases(seed, per_generator):
        yield from campaign.check_text("edge-cases", text)
    advance(1)
    for text in soup(seed, soup_count):
        yield from campaign.check_text("soup", text)
    for text in prompts:
        yield from campaign.check_text("prompts", text, add_special=True)
    advance(1)
