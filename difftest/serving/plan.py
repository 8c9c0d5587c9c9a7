"""What ``difftest serve`` sends to each server, and the recording it keeps for the oracles.

Every body gets the server's model id and its pinned ``request_defaults``. Some requests derive
from earlier answers of the same server: the stop strings are cut from its greedy text, the
``logit_bias`` target is its greedy first token. Keys (``plain/0``, ``stop``, ``invalid/<name>`` ...)
are what :mod:`enginebugs.difftest.serving.oracles` reads.
"""
from __future__ import annotations

import threading
import urllib.error
from dataclasses import dataclass, field
from typing import Any, Callable

from enginebugs.difftest.serving.client import Exchange, choice_text, send
from enginebugs.difftest.serving.servers import Server, http_json
from enginebugs.difftest.serving.suite import ServingSuite

JOINS = {"empty": "", "space": " ", "newline": "\n"}


@dataclass
class Recording:
    """Everything one server answered, by request key, plus the derived values (``meta``)."""

    label: str
    exchanges: dict[str, Exchange] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Exchange | None:
        return self.exchanges.get(key)

    def text(self, key: str, index: int = 0) -> str | None:
        ex = self.exchanges.get(key)
        if ex is None or not ex.ok:
            return None
        choices = ex.choices()
        return choice_text(choices[index]) if len(choices) > index else None


def stop_strings(text: str) -> tuple[str | None, str | None]:
    """From a greedy completion: a stop string matching mid-way (its first occurrence after the first
    quarter of the text) and one matching at the very start (the first word piece)."""
    first = text[:2] if text[:1].isspace() else text[:1]
    mid = None
    start = max(1, len(text) // 2)
    for i in range(start, len(text) - 1):
        candidate = text[i:i + 2]
        if candidate.strip() and "\ufffd" not in candidate and text.find(candidate) >= max(1, len(text) // 4):
            mid = candidate
            break
    return mid, (first or None)


def first_token_id(server: Server, prompt: str, piece: str, tokenize: Callable[[str], list[int] | None] | None) -> int | None:
    """Id of the token the server generated first (``piece``): tokenize(prompt + piece) beyond tokenize(prompt)."""
    for tok in (server.tokenize, tokenize):
        if tok is None:
            continue
        base, full = tok(prompt), tok(prompt + piece)
        if base is not None and full is not None and len(full) > len(base) and full[:len(base)] == base:
            return full[len(base)]
    return None


def record_server(server: Server, suite: ServingSuite, tokenize: Callable[[str], list[int] | None] | None = None,
                  timeout_s: float = 120.0, progress: Callable[[str], None] = lambda _: None) -> Recording:
    """Send the whole suite to one (started) server, one request at a time except the concurrency burst."""
    rec = Recording(server.label)
    n = suite.max_tokens

    def body(extra: dict[str, Any]) -> dict[str, Any]:
        return {**server.request_defaults, "model": server.model_id, **extra}

    def go(key: str, endpoint: str, extra: dict[str, Any]) -> Exchange:
        rec.exchanges[key] = ex = send(server.label, server.base_url, endpoint, body(extra), timeout_s)
        return ex

    progress(f"{server.label}: completions")
    p0 = suite.prompts[0]
    for i, prompt in enumerate(suite.prompts):
        greedy = {"prompt": prompt, "max_tokens": n, "temperature": 0.0}
        go(f"plain/{i}", "completions", greedy)
        go(f"stream/{i}", "completions", {**greedy, "stream": True})
        go(f"logprobs/{i}", "completions", {**greedy, "logprobs": 2})
    go("max1", "completions", {"prompt": p0, "max_tokens": 1, "temperature": 0.0})
    text0 = rec.text("plain/0") or ""
    mid, first = stop_strings(text0)
    rec.meta.update(stop=mid, stop_first=first)
    if mid:
        go("stop", "completions", {"prompt": p0, "max_tokens": n, "temperature": 0.0, "stop": [mid]})
        go("stop-stream", "completions", {"prompt": p0, "max_tokens": n, "temperature": 0.0, "stop": [mid],
                                          "stream": True})
    if first:
        go("stop-first", "completions", {"prompt": p0, "max_tokens": n, "temperature": 0.0, "stop": [first]})

    progress(f"{server.label}: echo, n, seed, logit_bias")
    go("echo", "completions", {"prompt": p0, "max_tokens": 4, "temperature": 0.0, "echo": True})
    go("echo-stream", "completions", {"prompt": p0, "max_tokens": 4, "temperature": 0.0, "echo": True, "stream": True})
    go("n", "completions", {"prompt": p0, "max_tokens": n, "temperature": 1.0, "n": 2, "seed": 5})
    for key, seed in (("seed-a", 7), ("seed-b", 7), ("seed-c", 8)):
        go(key, "completions", {"prompt": p0, "max_tokens": n, "temperature": 1.0, "seed": seed})
    lp = rec.get("logprobs/0")
    pieces = _logprob_tokens(lp)
    piece = pieces[0] if pieces else (first or "")
    bias_id = first_token_id(server, p0, piece, tokenize) if piece else None
    rec.meta["bias_id"] = bias_id
    if bias_id is not None:
        go("bias", "completions", {"prompt": p0, "max_tokens": n, "temperature": 0.0,
                                   "logit_bias": {str(bias_id): -100}})

    progress(f"{server.label}: chat")
    for name, messages in suite.chats:
        go(f"chat/{name}", "chat", {"messages": messages, "max_tokens": n, "temperature": 0.0})
        go(f"chat-stream/{name}", "chat", {"messages": messages, "max_tokens": n, "temperature": 0.0, "stream": True})
    if suite.parts:
        go("parts", "chat", {"messages": [{"role": "user", "content": [{"type": "text", "text": t}
                                                                         for t in suite.parts]}],
                             "max_tokens": 4, "temperature": 0.0})
        for join, sep in JOINS.items():
            go(f"parts-joined/{join}", "chat", {"messages": [{"role": "user", "content": sep.join(suite.parts)}],
                                                "max_tokens": 4, "temperature": 0.0})

    progress(f"{server.label}: input validation")
    for case in suite.invalid:
        go(f"invalid/{case.name}", case.endpoint, case.body)
    rec.meta["alive_after_invalid"] = _alive(server)

    progress(f"{server.label}: concurrency")
    _burst(server, suite, rec, body, timeout_s)
    rec.meta["alive_at_end"] = _alive(server)
    return rec


def _logprob_tokens(ex: Exchange | None) -> list[str]:
    if ex is None or not ex.ok:
        return []
    choices = ex.choices()
    lp = choices[0].get("logprobs") if choices else None
    return list((lp or {}).get("tokens") or []) if isinstance(lp, dict) else []


def _alive(server: Server) -> bool:
    if not server.alive():
        return False
    try:
        http_json(server.base_url + "/v1/models", timeout=10.0)
        return True
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _burst(server: Server, suite: ServingSuite, rec: Recording, body: Callable, timeout_s: float) -> None:
    """The needle (prompt 0, streamed) sent while ``suite.concurrency`` other streams run."""
    others = [suite.prompts[(k % max(1, len(suite.prompts) - 1)) + 1] if len(suite.prompts) > 1 else suite.prompts[0]
              for k in range(suite.concurrency)]
    jobs = [(f"busy/{k}", {"prompt": p, "max_tokens": suite.max_tokens * 2, "temperature": 0.0, "stream": True})
            for k, p in enumerate(others)]
    jobs.insert(len(jobs) // 2, ("busy-needle", {"prompt": suite.prompts[0], "max_tokens": suite.max_tokens,
                                                 "temperature": 0.0, "stream": True}))

    def run(key: str, extra: dict[str, Any]) -> None:
        rec.exchanges[key] = send(server.label, server.base_url, "completions", body(extra), timeout_s)

    threads = [threading.Thread(target=run, args=job, daemon=True) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s + 5)
