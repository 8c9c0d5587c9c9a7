"""The llama-cpp-python compatibility shim, on fake bindings shaped like older and newer releases
(no build of an old release needed): keywords a release lacks are detected from signatures, a knob
the user set that the release cannot honour is refused, and old wrappers' None from
``kv_cache_seq_rm`` counts as a removed tail."""
from __future__ import annotations

import pytest

from enginebugs.difftest.engines import llamacpp_compat as compat


class NewLlama:
    """Shaped like 0.3.x: ``special`` on both text calls."""

    def __init__(self, model_path: str, n_ctx: int = 512, n_ubatch: int = 512, flash_attn: bool = False,
                 verbose: bool = True):
        self.seen = dict(model_path=model_path, n_ctx=n_ctx, n_ubatch=n_ubatch, flash_attn=flash_attn)

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return [1] * add_bos + [100 + special] * len(text.split())

    def detokenize(self, tokens: list[int], prev_tokens=None, special: bool = False) -> bytes:
        return b"".join(b"<s>" if t == 1 and special else b"" if t == 1 else b"w" for t in tokens)


class OldLlama:
    """Shaped like a binding before ``special`` and ``n_ubatch``/``flash_attn`` existed."""

    def __init__(self, model_path: str, n_ctx: int = 512, verbose: bool = True):
        self.seen = dict(model_path=model_path, n_ctx=n_ctx)

    def tokenize(self, text: bytes, add_bos: bool = True) -> list[int]:
        return [1] * add_bos + [100] * len(text.split())

    def detokenize(self, tokens: list[int]) -> bytes:
        return b"".join(b"" if t == 1 else b"w" for t in tokens)


class KwargsLlama:
    def __init__(self, **kwargs):
        self.seen = kwargs


DEFAULTS = {"n_ubatch": 512, "flash_attn": False}


def test_keywords_a_release_lacks_are_left_out_while_unset():
    args = {"n_ctx": 64, "n_ubatch": 512, "flash_attn": False}
    kept, dropped = compat.supported_kwargs(OldLlama, args, DEFAULTS)
    assert kept == {"n_ctx": 64} and dropped == ["n_ubatch", "flash_attn"]
    assert OldLlama("m.gguf", **kept).seen == {"model_path": "m.gguf", "n_ctx": 64}
    assert compat.supported_kwargs(NewLlama, args, DEFAULTS) == (args, [])
    assert compat.supported_kwargs(KwargsLlama, args, DEFAULTS) == (args, [])  # **kwargs takes all


def test_a_knob_the_release_cannot_honour_is_refused():
    with pytest.raises(ValueError, match=r"no Llama\(n_ubatch=...\).*n_ubatch=128"):
        compat.supported_kwargs(OldLlama, {"n_ctx": 64, "n_ubatch": 128}, DEFAULTS)
    with pytest.raises(ValueError, match="flash_attn=True"):
        compat.supported_kwargs(OldLlama, {"flash_attn": True}, DEFAULTS)


def test_special_keyword_used_where_present_and_left_out_where_missing():
    new, old = NewLlama("m"), OldLlama("m")
    assert compat.detokenize(new, [1, 5], special=True) == b"<s>w"
    assert compat.detokenize(new, [1, 5], special=False) == b"w"
    assert compat.detokenize(old, [1, 5], special=True) == b"w"  # the binding's own rendering
    assert compat.tokenize(new, b"a b", True, True) == [1, 101, 101]
    assert compat.tokenize(old, b"a b", False, False) == [100, 100]
    with pytest.raises(ValueError, match="cannot parse special tokens"):
        compat.tokenize(old, b"a b", True, True)
    assert compat.features(new) == {"tokenize_special": True, "detokenize_special": True}
    assert compat.features(old) == {"tokenize_special": False, "detokenize_special": False}


class Ctx:
    def __init__(self, result):
        self.result, self.calls = result, []

    def kv_cache_seq_rm(self, seq_id, p0, p1):
        self.calls.append((seq_id, p0, p1))
        return self.result


def test_seq_rm_counts_an_old_wrappers_none_as_done_and_keeps_a_new_false():
    assert compat.seq_rm(Ctx(None), -1, 3, -1) is True  # <= 0.3.16 drops llama.cpp's bool
    assert compat.seq_rm(Ctx(True), -1, 3, -1) is True
    assert compat.seq_rm(Ctx(False), -1, 3, -1) is False  # a refused removal still resets
