"""The oracles' inputs: tolerance profiles and overrides, edge-case string generators, suites."""
import random

import pytest

from enginebugs.difftest import strings
from enginebugs.difftest.protocol import EngineConfig
from enginebugs.difftest.suites import SuiteError, available_suites, load_suite
from enginebugs.difftest.tolerances import ToleranceError, load_profile, pair_class


def test_pair_classes():
    f32, q8 = EngineConfig("transformers", "f32"), EngineConfig("llamacpp", "q8_0")
    assert pair_class(f32, q8) == pair_class(q8, f32) == "f32~q8_0"
    assert pair_class(f32, EngineConfig("llamacpp", "f32")) == "f32~f32"
    assert pair_class(EngineConfig("llamacpp", "f32"), EngineConfig("llamacpp", "f32", {"n_batch": 4})) == "same:f32"


def test_profiles_are_ordered_strict_to_lenient():
    classes = ("f32~f32", "f32~bf16", "f32~q8_0", "same:f32", "same:bf16")
    strict, default, lenient = (load_profile(n) for n in ("strict", "default", "lenient"))
    for cls in classes:
        s, d, l = strict.for_class(cls), default.for_class(cls), lenient.for_class(cls)
        assert s.exact and s.logprob_atol == 0 and s.kld_mean == 0
        assert not d.exact and 0 < d.logprob_atol <= l.logprob_atol and 0 < d.kld_mean <= l.kld_mean
    assert default.for_class("same:f16").same_top1_min == default.for_class("same").same_top1_min  # inherits "same"
    assert default.for_class("f32~q4_0") == default.for_class("*")


def test_override_file_changes_only_what_it_names(tmp_path):
    f = tmp_path / "tol.toml"
    f.write_text('[profiles.default."f32~q8_0"]\nkld_mean = 0.5\n')
    p = load_profile("default", f)
    assert p.for_class("f32~q8_0").kld_mean == 0.5
    assert p.for_class("f32~q8_0").topk == load_profile("default").for_class("f32~q8_0").topk
    f.write_text('[profiles.custom."*"]\nlogprob_atol = 3.0\n')
    assert load_profile("custom", f).for_class("f32~f32").logprob_atol == 3.0


@pytest.mark.parametrize("text, error", [
    ('[profiles.default."*"]\nlogprob_tol = 1\n', "unknown key"),
    ('[profiles.default."*"]\ntopk = 0\n', "invalid value"),
    ('[profiles.default."*"]\nexact = "yes"\n', "invalid value"),
    ("[profiles\n", "cannot read"),
    ("x = 1\n", "expected [profiles"),
])
def test_bad_override_files_are_rejected(tmp_path, text, error):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ToleranceError, match=error.replace("[", r"\[")):
        load_profile("default", f)


def test_unknown_profile():
    with pytest.raises(ToleranceError, match="unknown tolerance profile"):
        load_profile("sloppy")


def test_string_generators_are_deterministic_and_cover_every_kind():
    a, b = strings.cases(seed=3, per_generator=5), strings.cases(seed=3, per_generator=5)
    assert a == b and a != strings.cases(seed=4, per_generator=5)
    kinds = {k for k, _ in a}
    assert set(strings.GENERATORS) | {"file"} == kinds
    texts = [t for _, t in a]
    assert len(texts) == len(set(texts))
    assert any(t.startswith(" ") for t in texts) and any(t.endswith(" ") for t in texts)
    assert any(ord(c) > 0xFFFF for t in texts for c in t)  # astral plane: emoji, CJK ext. B
    assert any("\u200d" in t for t in texts)  # ZWJ sequences
    assert any("<s>" in t or "<|endoftext|>" in t for t in texts)


def test_unicode_blocks_sample_assigned_characters_of_every_block():
    out = strings.unicode_blocks(random.Random(0), len(strings.BLOCKS))
    for (name, lo, hi), text in zip(strings.BLOCKS, out):
        assert text, name
        assert any(lo <= ord(c) <= hi for c in text), name


def test_edge_case_file_escapes():
    assert strings.unescape(r"a\sb\n\t\\x\u00e9\U0001F600\x41") == "a b\n\t\\x\u00e9\U0001F600A"
    cases = strings.edge_cases()
    assert " Hello world" in cases and "Hello world " in cases and "\n" in cases and "<s>" in cases
    assert not any(c.startswith("#") for c in cases)


def test_unknown_generator_is_rejected():
    with pytest.raises(ValueError, match="unknown string generator"):
        strings.cases(generators=["nope"])


def test_suites_load_and_validate(tmp_path):
    assert {"default", "smoke"} <= set(available_suites())
    smoke = load_suite("smoke")
    assert smoke.prompts and smoke.needle and smoke.max_new_tokens > 0
    bad = tmp_path / "bad.toml"
    bad.write_text('prompts = []\n')
    with pytest.raises(SuiteError, match="non-empty list"):
        load_suite(str(bad))
    bad.write_text('prompts = ["x"]\nmax_tokens = 3\n')
    with pytest.raises(SuiteError, match="unknown key"):
        load_suite(str(bad))
    with pytest.raises(SuiteError, match="unknown suite"):
        load_suite("nope")


def test_a_suites_own_strings_join_the_tokenizer_strings(tmp_path):
    suite = load_suite("added-tokens")
    assert "ü» and the ▁marker stay" in suite.strings
    got = strings.cases(0, 1, ["digits"], include_file=False, extra=suite.strings)
    assert [t for s, t in got if s == "suite"] == list(suite.strings)
    assert strings.cases(0, 1, ["digits"], include_file=False, extra=[got[0][1]]) == got[:1]  # deduplicated
    bad = tmp_path / "bad.toml"
    bad.write_text('prompts = ["x"]\nstrings = ["", 3]\n')
    with pytest.raises(SuiteError, match="'strings' must be a list of non-empty strings"):
        load_suite(str(bad))
