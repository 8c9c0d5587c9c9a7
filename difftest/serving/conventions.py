"""Differences the OpenAI API leaves open: reported as *convention differences*, never as findings.

Each entry names what an oracle observes per server and the values a server may pick. Two servers
picking different values is listed under ``metrics["conventions"]`` in the results (and in the
summary); everything the table does not list is judged by the oracles and is a finding when it
fails. The stop string itself in the returned text is NOT a convention: the API says the returned
text never contains it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Convention:
    key: str
    question: str
    values: str


TABLE: tuple[Convention, ...] = (
    Convention("stop.usage", "Do the tokens of a matched stop string count in completion_tokens?",
               "counted | not counted"),
    Convention("stop.first_token_usage", "completion_tokens when generation stops at its first token",
               "0 | 1"),
    Convention("utf8.incomplete", "How a logprobs token holding an incomplete UTF-8 sequence is shown",
               "empty string | U+FFFD | bytes:\\xNN | raw bytes decoded with replacement"),
    Convention("utf8.invalid_text", "Bytes that do not form valid UTF-8 in the generated text",
               "U+FFFD | dropped"),
    Convention("logprobs.text_offset_origin", "Where logprobs.text_offset counts from",
               "prompt start (OpenAI legacy) | completion start"),
    Convention("stream.usage", "Whether a stream carries usage without stream_options.include_usage",
               "in the last chunk | absent"),
    Convention("chat.content_parts_join", "How text content parts are joined before templating",
               "'' | ' ' | '\\n'"),
    Convention("chat.no_template", "A chat request on a model without a chat template",
               "rejected (4xx) | a built-in fallback format"),
    Convention("validation", "A request the API leaves open (max_tokens 0 or past the context, empty prompt, "
               "n>1 at temperature 0): accepted or rejected", "2xx | 4xx"),
)
BY_KEY = {c.key: c for c in TABLE}


def covers(key: str) -> bool:
    """Whether an observation key (``validation.empty-prompt`` ...) belongs to the table."""
    return key in BY_KEY or key.split(".", 1)[0] in BY_KEY


def differences(observations: dict[str, dict[str, str]]) -> list[dict[str, object]]:
    """``{key: {server: value}}`` -> the keys on which servers picked different values."""
    out = []
    for key, by_server in sorted(observations.items()):
        if len(set(by_server.values())) > 1:
            entry = BY_KEY.get(key) or BY_KEY.get(key.split(".", 1)[0])
            out.append({"convention": key, "question": entry.question if entry else "", "values": dict(by_server)})
    return out
