"""The tokenizers engine (the library alone): a tokenizer.json an older release can read, the
stream rule it uses before DecodeStream existed, a Rust panic as an engine error, and the engine
itself on a small tokenizer trained here (this environment's tokenizers release)."""
import json

import pytest

from enginebugs.difftest.engines.streaming import prefix_stream
from enginebugs.difftest.engines.tokenizers_engine import _unpanic, create, readable_json
from enginebugs.difftest.protocol import EngineConfig, ModelSpec

SPEC = {
    "model": {"type": "BPE", "merges": [["a", "b"], ["ab", "c"]], "vocab": {"a": 0, "b": 1, "c": 2}},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}]},
    "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": True},
}


def test_readable_json_writes_what_older_releases_read():
    new = readable_json(SPEC, "0.23.3")
    assert new == SPEC and new is not SPEC
    v19 = readable_json(SPEC, "0.19.0")
    assert v19["model"]["merges"] == ["a b", "ab c"] and v19["pre_tokenizer"] == SPEC["pre_tokenizer"]
    v15 = readable_json(SPEC, "0.15.2")
    meta = v15["pre_tokenizer"]["pretokenizers"][0]
    assert "split" not in meta and meta["add_prefix_space"] is True and meta["prepend_scheme"] == "first"
    assert v15["decoder"]["add_prefix_space"] is False
    assert SPEC["model"]["merges"][0] == ["a", "b"]  # the input is not modified


def test_prefix_stream_waits_for_whole_characters_and_loses_nothing():
    pieces = {1: b"caf", 2: b"\xc3", 3: b"\xa9", 4: b" ok"}

    def decode(ids):
        return b"".join(pieces[i] for i in ids).decode("utf-8", errors="replace")

    chunks = prefix_stream(decode, [1, 2, 3, 4])
    assert chunks == ["caf", "é", " ok"] and "".join(chunks) == decode([1, 2, 3, 4])
    assert prefix_stream(decode, [1, 2]) == ["caf"]  # an unfinished character is held back, not flushed


def test_a_rust_panic_is_an_engine_error_not_a_dead_worker():
    class PanicException(BaseException):  # what pyo3 raises for a Rust panic
        pass

    def panics():
        raise PanicException("slice index starts at 2 but ends at 1")

    with pytest.raises(RuntimeError, match="tokenizers panicked: PanicException: slice index"):
        _unpanic(panics)
    with pytest.raises(KeyboardInterrupt):
        _unpanic(lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(ValueError):
        _unpanic(lambda: int("x"))


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import AddedToken, decoders, models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(["the lighthouse keeper writes every token twice", "café naïve 日本"] * 20, trainer)
    tok.add_tokens([AddedToken("<|sep|>", normalized=False)])
    hf = tmp_path_factory.mktemp("tok") / "hf"
    hf.mkdir()
    tok.save(str(hf / "tokenizer.json"))
    e = create()
    e.load(ModelSpec("t", {"hf": str(hf)}, vocab_size=tok.get_vocab_size(), bos_token_id=0, eos_token_id=1),
           EngineConfig("tokenizers", "f32", {}))
    return e


def test_engine_tokenizes_decodes_and_streams(engine):
    text = "the keeper writes café <|sep|> 日本 twice </s>"
    ids = engine.tokenize(text)
    assert engine.detokenize(ids) == text
    assert engine.tokenize_batch([text, "twice"]) == [ids, engine.tokenize("twice")]
    chunks = engine.stream_detokenize(ids)
    assert "".join(chunks) == text and not any("\ufffd" in c for c in chunks)
    special = engine.tokenize(text, parse_special=True)
    assert 1 in special and 1 not in ids  # '</s>' parsed only when asked
    assert engine.fingerprint()["packages"]["tokenizers"] == __import__("tokenizers").__version__


def test_tokenizers_engine_is_registered_and_pinnable():
    from enginebugs.difftest.runner import parse_config
    from enginebugs.difftest.versions import config_env

    env = config_env(parse_config("tokenizers@0.21.0:f32"))
    assert env is not None and "tokenizers==0.21.0" in json.dumps(env.requirements)
    with pytest.raises(ValueError, match="outside the range"):
        config_env(parse_config("tokenizers@0.14.1:f32"))
