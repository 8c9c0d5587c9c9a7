"""huggingface ``tokenizers`` on its own: the model's ``tokenizer.json`` through the Rust library,
without transformers (text capabilities only: tokenize, detokenize, stream).

transformers pins a narrow ``tokenizers`` range per release (4.51-4.55: 0.21.x, 4.56-5.10:
0.22.x, 5.16 on: 0.23.x), so a tokenizers regression across those ranges cannot be run through
it; this adapter runs any release from 0.15 (``tokenizers@0.20.3:f32``). Streaming uses the
library's own ``DecodeStream`` (0.21 on: what a server built on the library streams); before
0.21, the same prefix rule in Python over ``Tokenizer.decode``. A panic in the Rust code (pyo3's
``PanicException`` is a BaseException) is raised as a RuntimeError: an engine error of that call,
not a dead worker. Older releases get a ``tokenizer.json`` they can read (:func:`readable_json`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from enginebugs.difftest.engines.base import EngineBase
from enginebugs.difftest.engines.streaming import prefix_stream
from enginebugs.difftest.protocol import Unsupported
from enginebugs.difftest.versions import release


def readable_json(spec: dict[str, Any], version: str) -> dict[str, Any]:
    """``spec`` (a tokenizer.json a newer release wrote) as ``version`` reads it: before 0.20, BPE
    merges as ``"a b"`` strings (0.20 writes pairs); before 0.19, a Metaspace pre-tokenizer or
    decoder without ``split`` and with ``add_prefix_space`` (0.19 replaced it by ``prepend_scheme``)."""
    spec = json.loads(json.dumps(spec))
    v = release(version)[:2]
    merges = spec.get("model", {}).get("merges")
    if v < (0, 20) and merges and isinstance(merges[0], list):
        spec["model"]["merges"] = [" ".join(pair) for pair in merges]
    if v < (0, 19):
        for part in _components(spec.get("pre_tokenizer")) + _components(spec.get("decoder")):
            if part.get("type") == "Metaspace":
                part.pop("split", None)
                part["add_prefix_space"] = part.get("prepend_scheme", "always") != "never"
    return spec


def _components(node: Any) -> list[dict[str, Any]]:
    """A pre-tokenizer or decoder and, for a Sequence, its members."""
    if not isinstance(node, dict):
        return []
    members = node.get("pretokenizers") or node.get("decoders") or []
    return [node] + [m for m in members if isinstance(m, dict)]


def _unpanic(call, *args: Any) -> Any:
    """``call(*args)``; a Rust panic (a BaseException) comes back as a RuntimeError."""
    try:
        return call(*args)
    except Exception:
        raise
    except BaseException as exc:  # pyo3_runtime.PanicException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise RuntimeError(f"tokenizers panicked: {type(exc).__name__}: {exc}") from None


class TokenizersEngine(EngineBase):
    name = "tokenizers"
    capabilities = frozenset({"tokenize", "detokenize", "stream_detokenize", "offsets"})
    packages = ("tokenizers",)
    package = "tokenizers"
    supported = {"tokenizers": ">=0.15"}  # AddedToken/Metaspace prepend_scheme as 0.15 reads them

    def weights_key(self, dtype: str) -> str:
        return "hf"  # the tokenizer.json of the HF folder; no weights are loaded

    def load(self, model, config) -> None:
        self._begin_load(model, config)
        import tokenizers

        self.version = tokenizers.__version__
        spec = json.loads((Path(self.model_file("hf")) / "tokenizer.json").read_text(encoding="utf-8"))
        self.tok = tokenizers.Tokenizer.from_str(json.dumps(readable_json(spec, self.version)))
        try:
            from tokenizers.decoders import DecodeStream
        except ImportError:  # before 0.21
            DecodeStream = None
        self.decode_stream = DecodeStream

    def fingerprint(self) -> dict[str, Any]:
        fp = self.base_fingerprint()
        fp["streaming"] = "tokenizers.decoders.DecodeStream" if self.decode_stream else "prefix rule over decode()"
        return fp

    # -- text ------------------------------------------------------------------------------------
    def _special_split(self, parse_special: bool) -> None:
        if hasattr(self.tok, "encode_special_tokens"):  # 0.15.1 on
            self.tok.encode_special_tokens = not parse_special
        elif not parse_special:
            raise Unsupported(f"tokenizers {self.version} always parses special-token text")

    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        self._special_split(parse_special)
        return list(_unpanic(self.tok.encode, text, None, False, add_special).ids)

    def tokenize_batch(self, texts: list[str], add_special: bool = True,
                       parse_special: bool = False) -> list[list[int]]:
        self._special_split(parse_special)
        return [list(e.ids) for e in _unpanic(self.tok.encode_batch, list(texts), False, add_special)]

    def token_offsets(self, text: str, add_special: bool = False) -> list[list[int]]:
        return self.token_offsets_batch([text], add_special)[0]

    def token_offsets_batch(self, texts: list[str], add_special: bool = False) -> list[list[list[int]]]:
        self._special_split(False)
        return [[list(span) for span in e.offsets] for e in _unpanic(self.tok.encode_batch, list(texts), False,
                                                                       add_special)]

    def detokenize(self, ids: list[int]) -> str:
        return _unpanic(self.tok.decode, [int(i) for i in ids], False)

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        """The chunks a stream of ``ids`` emits, one step per id (pieces that end inside a UTF-8
        character wait for the next id; nothing is flushed at the end)."""
        if self.decode_stream is not None:
            stream = self.decode_stream(skip_special_tokens=False)
            chunks = [_unpanic(stream.step, self.tok, int(i)) for i in ids]
            return [c for c in chunks if c]
        return prefix_stream(lambda part: self.tok.decode(part, False), [int(i) for i in ids])


def create() -> TokenizersEngine:
    return TokenizersEngine()
