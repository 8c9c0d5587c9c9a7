"""Recorded HTTP exchanges with an OpenAI-compatible server: the request, the status, the JSON
response or the server-sent-event chunks, and a replayable ``curl`` line."""
from __future__ import annotations

import http.client
import json
import shlex
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

ENDPOINTS = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}


@dataclass
class Exchange:
    """One request to one server and what came back. ``status`` is None when the connection
    failed or timed out (``error`` says which)."""

    server: str
    endpoint: str
    body: dict[str, Any]
    base_url: str = ""
    status: int | None = None
    response: Any = None
    chunks: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    raw: str = ""
    error: str = ""
    elapsed_s: float = 0.0

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.error

    @property
    def status_class(self) -> str:
        """``2xx``, ``4xx``, ``5xx`` or ``no-response`` (connection error, timeout)."""
        if self.status is None:
            return "no-response"
        return f"{self.status // 100}xx"

    def curl(self) -> str:
        url = self.base_url + ENDPOINTS.get(self.endpoint, self.endpoint)
        return (f"curl -sS{'N' if self.stream else ''} {shlex.quote(url)} -H 'Content-Type: application/json' "
                f"-d {shlex.quote(json.dumps(self.body, ensure_ascii=False))}")

    def summary(self, limit: int = 1500) -> str:
        """The response as the finding shows it: status and JSON (or the stream's chunks)."""
        if self.error and self.status is None:
            return f"no response: {self.error}"
        if self.stream and self.chunks:
            shown = json.dumps(self.chunks, ensure_ascii=False)
            return f"HTTP {self.status}, {len(self.chunks)} chunks{'' if self.done else ', no [DONE]'}: {shown[:limit]}"
        shown = json.dumps(self.response, ensure_ascii=False) if self.response is not None else self.raw
        return f"HTTP {self.status}: {shown[:limit]}"

    def to_dict(self) -> dict[str, Any]:
        return {"server": self.server, "curl": self.curl(), "status": self.status, "response": self.summary()}

    # -- what the response says, streamed or not -------------------------------------------------
    def choices(self) -> list[dict[str, Any]]:
        """Non-streamed choices; for a stream, the chunks folded into one choice per index."""
        if not self.stream:
            return list((self.response or {}).get("choices") or []) if isinstance(self.response, dict) else []
        folded: dict[int, dict[str, Any]] = {}
        for chunk in self.chunks:
            for c in chunk.get("choices") or []:
                f = folded.setdefault(int(c.get("index", 0)), {"index": c.get("index", 0), "text": "",
                                                                "finish_reason": None})
                piece = c.get("text")
                if piece is None:
                    piece = (c.get("delta") or {}).get("content") or ""
                f["text"] += piece
                if c.get("token_ids") is not None:  # vLLM return_token_ids
                    f["token_ids"] = f.get("token_ids", []) + list(c["token_ids"])
                if c.get("finish_reason"):
                    f["finish_reason"] = c["finish_reason"]
        return [folded[i] for i in sorted(folded)]

    def usage(self) -> dict[str, Any] | None:
        if not self.stream:
            return (self.response or {}).get("usage") if isinstance(self.response, dict) else None
        for chunk in reversed(self.chunks):
            if chunk.get("usage"):
                return chunk["usage"]
        return None


def choice_text(choice: dict[str, Any]) -> str:
    """A completion choice's ``text`` or a chat choice's ``message.content`` (or folded stream text)."""
    if "text" in choice:
        return choice.get("text") or ""
    return ((choice.get("message") or {}).get("content")) or ""


def send(server: str, base_url: str, endpoint: str, body: dict[str, Any], timeout_s: float = 120.0) -> Exchange:
    """POST ``body`` to ``endpoint`` (``completions``, ``chat`` or a path) and record the exchange;
    never raises for a server's failure."""
    ex = Exchange(server, endpoint, body, base_url)
    parts = urlsplit(base_url)
    t0 = time.monotonic()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        conn.request("POST", ENDPOINTS.get(endpoint, endpoint), payload, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        ex.status = resp.status
        if ex.stream and resp.status == 200 and "event-stream" in (resp.getheader("Content-Type") or ""):
            _read_events(resp, ex)
        else:
            ex.raw = resp.read().decode("utf-8", "replace")
            try:
                ex.response = json.loads(ex.raw)
            except ValueError:
                ex.response = None
    except (OSError, http.client.HTTPException) as exc:
        ex.error = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
        ex.elapsed_s = time.monotonic() - t0
    return ex


def _read_events(resp: http.client.HTTPResponse, ex: Exchange) -> None:
    """Server-sent events: ``data: {json}`` lines, ``data: [DONE]`` at the end."""
    while True:
        line = resp.readline()
        if not line:
            return
        text = line.decode("utf-8", "replace").strip()
        if not text.startswith("data:"):
            continue
        data = text[5:].strip()
        if data == "[DONE]":
            ex.done = True
            continue
        try:
            ex.chunks.append(json.loads(data))
        except ValueError:
            ex.error = f"unparsable event: {data[:200]}"
