"""Tokenization oracles: ids across engines, round trip, cross-engine decode (also of ids holding
special tokens), streaming decode, and the generated text against the decode of the generated ids."""
from __future__ import annotations

from enginebugs.difftest.oracles.base import Verdict, describe, divergence

REPLACEMENT = "\ufffd"


def token_ids_match(text: str, expected: list[int], actual: list[int]) -> Verdict:
    """The same text must give the same ids in every engine."""
    div = divergence(expected, actual)
    if div is None:
        return Verdict.passed(tokens=len(expected))
    return Verdict(False, f"token ids differ for {text!r}: {describe(div)}", "incorrect-tokenization", div,
                   {"expected_tokens": len(expected), "actual_tokens": len(actual)})


def offsets_match(text: str, ids: list[int], expected: list[list[int]], actual: list[list[int]]) -> Verdict:
    """The same token ids of the same text must cover the same character spans (what
    highlighting, token-to-text alignment and span-based NER read) as the reference's."""
    spans = lambda o: [tuple(int(x) for x in pair) for pair in o]  # noqa: E731
    want, got = spans(expected), spans(actual)
    div = divergence(want, got)
    if div is None:
        return Verdict.passed(tokens=len(want))
    i = div["index"]
    piece = lambda span: repr(text[span[0]:span[1]]) if span is not None else "none"  # noqa: E731
    w, g = (want[i] if i < len(want) else None), (got[i] if i < len(got) else None)
    return Verdict(False, f"character spans differ for {text!r} at token {i} (id {ids[i] if i < len(ids) else '?'}): "
                   f"{g} {piece(g)} vs the reference's {w} {piece(w)}", "incorrect-tokenization", div,
                   {"tokens": len(want)})


def _text_root_cause(expected: str, actual: str) -> str:
    return ("incorrect-character-encoding" if actual.count(REPLACEMENT) != expected.count(REPLACEMENT)
            else "incorrect-detokenization")


def round_trip(text: str, ids: list[int], decoded: str, *, reference_ids: list[int] | None = None,
               reference_decoded: str | None = None) -> Verdict:
    """``decode(encode(text)) == text``. Where the reference engine itself decodes to the same
    non-identical text the tokenizer normalises by design, which is not an engine fault. The
    candidate root cause is tokenization when the ids already differ from the reference's."""
    if decoded == text or (reference_decoded is not None and decoded == reference_decoded):
        return Verdict.passed()
    div = divergence(text, decoded)
    cause = ("incorrect-tokenization" if reference_ids is not None and list(ids) != list(reference_ids)
             else _text_root_cause(text, decoded))
    return Verdict(False, f"decode(encode(text)) != text for {text!r}: {describe(div, 'character')}", cause, div,
                   {"ids": list(ids)})


def decode_match(ids: list[int], expected: str, actual: str) -> Verdict:
    """The same ids must decode to the same text in every engine."""
    div = divergence(expected, actual)
    if div is None:
        return Verdict.passed()
    return Verdict(False, f"decode({list(ids)[:12]}{'...' if len(ids) > 12 else ''}) differs: "
                   f"{describe(div, 'character')}", _text_root_cause(expected, actual), div)


def streaming_matches(ids: list[int], full_text: str, chunks: list[str]) -> Verdict:
    """Concatenated streamed chunks must equal the full decode. A replacement character in the
    stream that the full decode lacks means a multi-byte UTF-8 character was split across tokens
    and decoded piecewise."""
    joined = "".join(chunks)
    div = divergence(full_text, joined)
    if div is None:
        return Verdict.passed(chunks=len(chunks))
    split = [i for i, c in enumerate(chunks) if REPLACEMENT in c] if REPLACEMENT not in full_text else []
    message = f"concatenated stream != full decode: {describe(div, 'character')}"
    if split:
        message += f"; chunk {split[0]} is {chunks[split[0]]!r} (split UTF-8)"
    return Verdict(False, message, "incorrect-character-encoding" if split else _text_root_cause(full_text, joined),
                   div, {"chunks": len(chunks), "chunks_with_replacement": len(split)})


def streaming_matches_special(ids: list[int], full_text: str, plain_text: str, chunks: list[str]) -> Verdict:
    """Streaming of ids that contain special tokens: the concatenated stream must equal the full
    decode (special tokens rendered) or the decode of the same ids without the special tokens
    (a server that drops them, as llama-server does); nothing else, in particular not a text whose
    spaces around the special tokens moved."""
    if "".join(chunks) == plain_text:
        return Verdict.passed(chunks=len(chunks), special_dropped=True)
    return streaming_matches(ids, full_text, chunks)


def generated_text(ids: list[int], text: str, own_full: str, own_plain: str,
                   reference: str | None = None, reference_plain: str | None = None) -> Verdict:
    """``Generation.text`` of generated ``ids`` must be the engine's own decode of those ids (with
    the special tokens rendered, ``own_full``, or skipped, ``own_plain``), and where the reference
    engine decoded the same ids, the reference's text (rendered or skipped the same way)."""
    if text not in (own_full, own_plain):
        expected = own_full if abs(len(own_full) - len(text)) <= abs(len(own_plain) - len(text)) else own_plain
        div = divergence(expected, text)
        return Verdict(False, f"generated text != the engine's own decode of its generated ids "
                       f"{list(ids)[:12]}: {describe(div, 'character')}", _text_root_cause(expected, text), div,
                       {"divergence_class": "text-vs-own-decode"})
    if reference is not None and text not in (reference, reference_plain):
        expected = reference if text == own_full else (reference_plain if reference_plain is not None else reference)
        div = divergence(expected, text)
        return Verdict(False, f"generated text != the reference's decode of the same ids {list(ids)[:12]}: "
                       f"{describe(div, 'character')}", _text_root_cause(expected, text), div,
                       {"divergence_class": "text-vs-reference-decode"})
    return Verdict.passed(characters=len(text))
