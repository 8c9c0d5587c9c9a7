"""Planted tokenizer, detokenizer and streaming faults."""
from __future__ import annotations

from enginebugs.difftest.faults.base import FaultyEngine


class LeadingSpaceDropper(FaultyEngine):
    """Drops one leading space before tokenizing (a pre-tokenizer / dummy-prefix bug)."""

    name = "leading_space_dropper"

    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        return self.inner.tokenize(text[1:] if text.startswith(" ") else text, add_special, parse_special)


class Utf8StreamSplitter(FaultyEngine):
    """Streams by decoding each token on its own, so multi-byte characters split across tokens
    come out as U+FFFD pieces (the classic streaming detokenizer bug)."""

    name = "utf8_stream_splitter"
    adds = frozenset({"stream_detokenize"})

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        return [self.inner.detokenize([t]) for t in ids]


