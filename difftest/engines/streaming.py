"""Streaming detokenization rules of engine servers, as pure functions over token pieces.

``llama_server_chunks`` follows llama.cpp's ``llama-server``: token pieces (bytes) are appended to
the generated text, and whenever ``validate_utf8`` finds no multi-byte character cut off at the
end, everything not yet sent goes out as one chunk. Invalid bytes are rendered as U+FFFD (the
server's JSON writer replaces them). Bytes still unsent when generation stops are flushed in a
final chunk the same way.
"""
from __future__ import annotations


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
