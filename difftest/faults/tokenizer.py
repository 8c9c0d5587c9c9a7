"""Planted tokenizer, detokenizer and streaming faults."""
from __future__ import annotations

import dataclasses

from enginebugs.difftest.faults.base import FaultyEngine
from enginebugs.difftest.protocol import EngineConfig, Generation, ModelSpec


class LeadingSpaceDropper(FaultyEngine):
    """Drops one leading space before tokenizing (a pre-tokenizer / dummy-prefix bug)."""

    name = "leading_space_dropper"

    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        return self.inner.tokenize(text[1:] if text.startswith(" ") else text, add_special, parse_special)


class WholeWordSpanEraser(FaultyEngine):
    """Reports an empty span at the token's start for every token that covers a whole word of
    three or more characters (the ids stay right): what tokenizers 0.20.0 did for words its
    ``ignore_merges`` path found whole in the vocabulary."""

    name = "whole_word_span_eraser"

    def token_offsets(self, text: str, add_special: bool = False) -> list[list[int]]:
        spans = self.inner.token_offsets(text, add_special)
        return [[s, s] if len(text[s:e].lstrip()) >= 3 and text[s:e].lstrip().isalpha() else [s, e] for s, e in spans]


class Utf8StreamSplitter(FaultyEngine):
    """Streams by decoding each token on its own, so multi-byte characters split across tokens
    come out as U+FFFD pieces (the classic streaming detokenizer bug)."""

    name = "utf8_stream_splitter"
    adds = frozenset({"stream_detokenize"})

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        return [self.inner.detokenize([t]) for t in ids]




class SpecialSpaceMangler(FaultyEngine):
    """Drops the space that follows a special token (``</s> Hello`` -> ``</s>Hello``) in the full
    decode and in the stream alike, as a detokenizer that treats a special token as the start of
    the text does. Ids without special tokens decode correctly."""

    name = "special_space_mangler"

    def load(self, model: ModelSpec, config: EngineConfig) -> None:
        super().load(model, config)
        self._special = {t for t in (model.bos_token_id, model.eos_token_id) if t is not None}

    def _dropped(self, ids: list[int]) -> set[int]:
        """Character offsets (in the correct decode) of the spaces right after a special token."""
        offsets = set()
        for k, t in enumerate(ids):
            if t in self._special and k + 1 < len(ids) and ids[k + 1] not in self._special:
                at = len(self.inner.detokenize(ids[: k + 1]))
                if self.inner.detokenize(ids[: k + 2])[at: at + 1] == " ":
                    offsets.add(at)
        return offsets

    def detokenize(self, ids: list[int]) -> str:
        drop = self._dropped(list(ids))
        return "".join(c for i, c in enumerate(self.inner.detokenize(ids)) if i not in drop)

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        drop, start, out = self._dropped(list(ids)), 0, []
        for chunk in self.inner.stream_detokenize(ids):
            out.append("".join(c for i, c in enumerate(chunk, start) if i not in drop))
            start += len(chunk)
        return out


class GeneratedTextMangler(FaultyEngine):
    """``Generation.text`` comes from a separate incremental detokenizer that loses the first space
    of the generated text; ``detokenize`` of the same ids is right (the response text and the
    response token ids disagree). Texts without a space come out right."""

    name = "generated_text_mangler"

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        gen = self.inner.generate(ids, max_new_tokens, top_k, seed)
        return dataclasses.replace(gen, text=gen.text.replace(" ", "", 1))
