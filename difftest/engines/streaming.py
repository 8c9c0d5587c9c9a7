"""Streaming detokenization rules of engine servers, as pure functions over token pieces.

``llama_server_chunks`` follows llama.cpp's ``llama-server``: token pieces (bytes) are appended to
the generated text, and whenever ``validate_utf8`` finds no multi-byte character cut off at the
end, everything not yet sent goes out as one chunk. Invalid bytes are rendered as U+FFFD (the
server's JSON writer replaces them). Bytes still unsent when generation stops are flushed in a
final chunk the same way.

``prefix_stream`` follows the tokenizers library's ``DecodeStream`` (0.21.1 on): decode the ids
since the last emitted prefix, emit what extends it unless it ends in U+FFFD; nothing is flushed.
"""
from __future__ import annotations

from typing import Callable


def validate_utf8(data: bytes) -> int:
    """Length of ``data`` up to a trailing cut-off multi-byte character (llama.cpp's ``validate_utf8``)."""
    n = len(data)
    for i in range(1, min(4, n) + 1):
        c = data[n - i]
        if (c & 0xE0) == 0xC0 and i < 2:
            return n - i
        if (c & 0xF0) == 0xE0 and i < 3:
            return n - i
        if (c & 0xF8) == 0xF0 and i < 4:
            return n - i
    return n


def llama_server_chunks(pieces: list[bytes]) -> list[str]:
    """The text chunks llama-server would stream for these token pieces."""
    generated, sent, chunks = b"", 0, []
    for piece in pieces:
        generated += piece
        if validate_utf8(generated) < len(generated):
            continue  # wait for the rest of the character
        if len(generated) > sent:
            chunks.append(generated[sent:].decode("utf-8", errors="replace"))
            sent = len(generated)
    if len(generated) > sent:
        chunks.append(generated[sent:].decode("utf-8", errors="replace"))
    return chunks


def prefix_stream(decode: Callable[[list[int]], str], ids: list[int]) -> list[str]:
    """DecodeStream's rule (0.21.1) in Python: after each id, decode the ids kept since the last
    prefix; where that extends the prefix and does not end in a replacement character (a UTF-8
    character still incomplete), emit the extension and keep only the ids from the prefix on."""
    chunks: list[str] = []
    kept: list[int] = []
    prefix, prefix_index = "", 0
    for token in ids:
        kept.append(token)
        text = decode(kept)
        if len(text) > len(prefix) and not text.endswith("\ufffd"):
            if not text.startswith(prefix):
                raise RuntimeError(f"stream prefix {prefix!r} is not a prefix of {text!r}")
            chunks.append(text[len(prefix):])
            kept, prefix_index = kept[prefix_index:], len(kept) - prefix_index
            prefix = decode(kept)
    return chunks
