"""Tokenization oracles on hand-made recorded outputs: each check passes on agreeing data and
fires, with the right root cause and location, on the failure it exists for."""
from enginebugs.difftest.oracles.base import divergence, first_difference
from enginebugs.difftest.oracles.tokenization import decode_match, round_trip, streaming_matches, token_ids_match


def test_first_difference_positions_and_lengths():
    assert first_difference([1, 2, 3], [1, 2, 3]) is None
    assert first_difference([1, 2, 3], [1, 9, 3]) == 1
    assert first_difference([1, 2], [1, 2, 3]) == 2
    assert first_difference("abc", "abd") == 2


def test_divergence_reports_five_tokens_of_context_each_side():
    expected = list(range(20))
    actual = expected[:12] + [99] + expected[13:]
    div = divergence(expected, actual)
    assert div["index"] == 12 and div["expected"] == 12 and div["actual"] == 99
    assert div["context_start"] == 7
    assert div["expected_context"] == list(range(7, 18))
    assert div["actual_context"] == [7, 8, 9, 10, 11, 99, 13, 14, 15, 16, 17]


def test_token_ids_match_passes_and_fires_with_location():
    assert token_ids_match("hi there", [1, 5, 7], [1, 5, 7]).ok
    v = token_ids_match(" hi there", [1, 32, 5, 7], [1, 5, 7])
    assert not v.ok and v.root_cause == "incorrect-tokenization"
    assert v.divergence["index"] == 1 and v.divergence["expected"] == 32 and v.divergence["actual"] == 5
    assert "index 1" in v.message and "' hi there'" in v.message


def test_round_trip_exact_text_passes_and_loss_fires():
    assert round_trip("a b", [3, 4], "a b").ok
    v = round_trip("  a", [3], " a")
    assert not v.ok and v.root_cause == "incorrect-detokenization" and v.divergence["index"] == 1


def test_round_trip_accepts_normalisation_the_reference_shares():
    assert round_trip("e\u0301", [7], "\u00e9", reference_ids=[7], reference_decoded="\u00e9").ok
    assert not round_trip("e\u0301", [7], "\u00e9", reference_ids=[7], reference_decoded="e\u0301").ok


def test_round_trip_root_cause_tokenization_when_ids_differ_from_reference():
    v = round_trip(" x", [8], "x", reference_ids=[2, 8], reference_decoded=" x")
    assert v.root_cause == "incorrect-tokenization"


def test_round_trip_replacement_character_points_to_character_encoding():
    v = round_trip("\u65e5", [1, 2], "\ufffd\ufffd")
    assert v.root_cause == "incorrect-character-encoding"


def test_decode_match():
    assert decode_match([1, 2], "ab", "ab").ok
    v = decode_match([1, 2], "ab", "a b")
    assert not v.ok and v.root_cause == "incorrect-detokenization" and v.divergence["index"] == 1


def test_streaming_concatenation_equal_passes():
    assert streaming_matches([1, 2, 3], "h\u00e9!", ["h", "", "\u00e9!"]).ok


def test_streaming_split_utf8_fires_as_character_encoding():
    v = streaming_matches([1, 2, 3], "h\u00e9", ["h", "\ufffd", "\ufffd"])
    assert not v.ok and v.root_cause == "incorrect-character-encoding"
    assert v.divergence["index"] == 1


def test_streaming_replacement_already_in_the_full_decode_is_not_a_streaming_fault():
    # Invalid bytes decode to U+FFFD in full too: the stream only has to agree.
    assert streaming_matches([1, 2], "\ufffdx", ["\ufffd", "x"]).ok
    assert not streaming_matches([1, 2], "\ufffdx", ["\ufffd", "y"]).ok


def test_streaming_lost_text_is_detokenization():
    v = streaming_matches([1, 2], "abc", ["a", "b"])
    assert not v.ok and v.root_cause == "incorrect-detokenization" and v.divergence["index"] == 2


def test_streaming_with_special_tokens_may_drop_them_but_not_move_spaces():
    from enginebugs.difftest.oracles.tokenization import streaming_matches_special

    ids = [1, 10, 2, 11]
    assert streaming_matches_special(ids, "<s>a</s> b", "a b", ["<s>", "a", "</s>", " b"]).ok
    assert streaming_matches_special(ids, "<s>a</s> b", "a b", ["", "a", "", " b"]).ok  # server drops specials
    bad = streaming_matches_special(ids, "<s>a</s> b", "a b", ["<s>", "a", "</s>", "b"])
    assert not bad.ok and bad.root_cause == "incorrect-detokenization" and bad.divergence["index"] == 8


def test_generated_text_against_own_and_reference_decode():
    from enginebugs.difftest.oracles.tokenization import generated_text

    assert generated_text([5, 2], " hi</s>", " hi</s>", " hi").ok
    assert generated_text([5, 2], " hi", " hi</s>", " hi").ok  # special tokens skipped in the text
    own = generated_text([5, 2], "hi", " hi</s>", " hi")
    assert not own.ok and own.metrics["divergence_class"] == "text-vs-own-decode" and own.divergence["index"] == 0
    ref = generated_text([5, 2], " hi", " hi</s>", " hi", " hé</s>", " hé")
    assert not ref.ok and ref.metrics["divergence_class"] == "text-vs-reference-decode"
    assert ref.divergence["index"] == 2
    assert generated_text([5, 2], " hi", " hi</s>", " hi", " hi</s>", " hi").ok


def test_reference_round_trip_is_exempt_only_where_another_build_loses_the_same_text():
    """The round trip exempts a candidate that decodes like the reference (the tokenizer's design);
    the reference gets the same exemption from a build that matches it, so two releases that decode
    identically no longer differ by a reference-only finding; a reference whose peer round-trips
    correctly is still flagged."""
    from types import SimpleNamespace

    from enginebugs.difftest.checks import peer_round_trip
    from enginebugs.difftest.session import Missing

    def session(records):
        return SimpleNamespace(get=lambda key: records.get(key, Missing("not recorded")))

    text, ids, lossy = "   apples", [5, 6, 7], "  apples"
    ref = session({("tok", 0): ids, ("rt", 0): lossy})

    def data(*peers):
        return SimpleNamespace(reference=ref, token_sessions=lambda: [ref, *peers])

    same = session({("tok", 0): ids, ("rt", 0): lossy})
    assert peer_round_trip(data(same), 0) == lossy
    assert round_trip(text, ids, lossy, reference_decoded=peer_round_trip(data(same), 0)).ok
    correct = session({("tok", 0): ids, ("rt", 0): text})
    other_ids = session({("tok", 0): [9], ("rt", 0): lossy})
    for peers in ((correct,), (other_ids,), ()):
        verdict = round_trip(text, ids, lossy, reference_decoded=peer_round_trip(data(*peers), 0))
        assert not verdict.ok and verdict.root_cause == "incorrect-detokenization"


def test_offsets_match_names_the_first_token_whose_span_differs():
    from enginebugs.difftest.oracles.tokenization import offsets_match

    text = "the median"
    good, bad = [[0, 3], [3, 10]], [[0, 0], [3, 3]]
    assert offsets_match(text, [5, 9], good, [(0, 3), (3, 10)]).ok  # tuples or lists alike
    v = offsets_match(text, [5, 9], good, bad)
    assert not v.ok and v.root_cause == "incorrect-tokenization" and v.divergence["index"] == 0
    assert "token 0 (id 5)" in v.message and "'the'" in v.message and "(0, 0) ''" in v.message
    assert not offsets_match(text, [5, 9], good, good[:1]).ok  # a missing span counts
