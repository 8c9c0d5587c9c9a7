"""A small OpenAI-compatible server with planted serving bugs, for the serving oracles' tests.

The "model" is a fixed vocabulary of word pieces; greedy decoding of a prompt is a deterministic
walk through it (seeded by the prompt), sampling at temperature > 0 draws with ``seed``. It serves
``/v1/models``, ``/v1/completions``, ``/v1/chat/completions`` (streamed or not, with stop, echo,
n, seed, logit_bias, logprobs) and vLLM's ``/tokenize``. ``bugs`` plants faults:

``stop_kept`` (the stop string stays in the text), ``usage_off_by_one`` (completion_tokens + 1),
``stream_drops_chunk`` (the second streamed chunk is lost), ``ignores_n`` (one choice whatever n).
"""
from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VOCAB = [" the", " cat", " sat", " on", " a", " mat", ".", " and", " dog", " ran", " far", " away", " it",
         " was", " big", "!", " then", " home", " to", " see"]
BUGS = ("stop_kept", "usage_off_by_one", "stream_drops_chunk", "ignores_n")


def tokenize(text: str) -> list[int]:
    """Greedy longest match over VOCAB; characters outside it count one token each (id 100+)."""
    ids, i = [], 0
    while i < len(text):
        best = max((v for v in VOCAB if text.startswith(v, i)), key=len, default=None)
        if best is None:
            ids.append(100 + ord(text[i]) % 100)
            i += 1
        else:
            ids.append(VOCAB.index(best))
            i += len(best)
    return ids


def generate(prompt: str, max_tokens: int, temperature: float, seed, bias: dict[int, float]) -> list[int]:
    rng = random.Random(seed if seed is not None else random.random())
    state = sum(map(ord, prompt))
    out = []
    for _ in range(max_tokens):
        order = [(state * 7 + k * 3) % len(VOCAB) for k in range(len(VOCAB))]
        order = [t for t in order if bias.get(t, 0) > -50] or order
        favoured = [t for t in order if bias.get(t, 0) > 50]
        token = favoured[0] if favoured else rng.choice(order[:5]) if temperature > 0 else order[0]
        out.append(token)
        state = state * 31 + token + 1
    return out


class FakeServer:
    """``with FakeServer(bugs={"stop_kept"}) as url: ...`` serves on 127.0.0.1 in a thread."""

    def __init__(self, bugs=()):
        unknown = set(bugs) - set(BUGS)
        assert not unknown, unknown
        self.bugs = set(bugs)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def complete(self, body: dict, chat: bool) -> tuple[int, list[dict], dict]:
        """(status, choices, usage) of one request; choices hold text, token pieces and finish."""
        if chat:
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages or any(m.get("role") not in ("system", "user",
                                                                                             "assistant")
                                                                     for m in messages):
                return 400, [], {}
            def content(m):
                c = m.get("content")
                return "".join(p.get("text", "") for p in c) if isinstance(c, list) else str(c)
            prompt = "".join(f"<{m['role']}>{content(m)}" for m in messages) + "<assistant>"
        else:
            prompt = body.get("prompt")
            if not isinstance(prompt, str):
                return 400, [], {}
        max_tokens = body.get("max_tokens", 16)
        temperature = body.get("temperature", 1.0)
        top_p = body.get("top_p", 1.0)
        if not isinstance(max_tokens, int) or max_tokens < 1 or temperature < 0 or top_p > 1:
            return 400, [], {}
        if len(tokenize(prompt)) + max_tokens > 2048:
            return 400, [], {}
        bias = {int(k): float(v) for k, v in (body.get("logit_bias") or {}).items()}
        n = 1 if "ignores_n" in self.bugs else int(body.get("n", 1))
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else stops
        choices, completion_tokens = [], 0
        for index in range(n):
            seed = body.get("seed")
            ids = generate(prompt, max_tokens, temperature, None if seed is None else seed + index, bias)
            pieces = [VOCAB[t] for t in ids]
            text, finish = "".join(pieces), "length"
            for s in stops:
                at = text.find(s)
                if at >= 0:
                    text, finish = text[:at] + (s if "stop_kept" in self.bugs else ""), "stop"
                    used, acc = 0, ""
                    while len(acc) < at:
                        acc, used = acc + pieces[used], used + 1
                    pieces = pieces[:used]
            completion_tokens += len(pieces)
            if body.get("echo") and not chat:
                text = prompt + text
            choices.append({"text": text, "pieces": pieces, "finish": finish})
        prompt_tokens = len(tokenize(prompt))
        reported = completion_tokens + (1 if "usage_off_by_one" in self.bugs else 0)
        return 200, choices, {"prompt_tokens": prompt_tokens, "completion_tokens": reported,
                              "total_tokens": prompt_tokens + reported}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status: int, payload) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/models":
                    return self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
                return self._json(404, {"error": "not found"})

            def do_POST(self):
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                except ValueError:
                    return self._json(400, {"error": "bad json"})
                if self.path == "/tokenize":
                    return self._json(200, {"tokens": tokenize(body.get("prompt", ""))})
                chat = self.path == "/v1/chat/completions"
                if not chat and self.path != "/v1/completions":
                    return self._json(404, {"error": "not found"})
                status, choices, usage = fake.complete(body, chat)
                if status != 200:
                    return self._json(status, {"error": {"message": "invalid request"}})
                if body.get("stream"):
                    return self._stream(choices, usage, chat)
                out = []
                for i, c in enumerate(choices):
                    if chat:
                        out.append({"index": i, "message": {"role": "assistant", "content": c["text"]},
                                    "finish_reason": c["finish"]})
                        continue
                    entry = {"index": i, "text": c["text"], "finish_reason": c["finish"], "logprobs": None}
                    if body.get("logprobs"):
                        offsets, at = [], len(body["prompt"])
                        for p in c["pieces"]:
                            offsets.append(at)
                            at += len(p)
                        entry["logprobs"] = {"tokens": c["pieces"], "token_logprobs": [-0.5] * len(c["pieces"]),
                                             "top_logprobs": [{p: -0.5} for p in c["pieces"]],
                                             "text_offset": offsets}
                    out.append(entry)
                self._json(200, {"object": "chat.completion" if chat else "text_completion", "choices": out,
                                 "usage": usage})

            def _stream(self, choices, usage, chat):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                events = []
                for i, c in enumerate(choices):
                    pieces = c["pieces"] if c["text"] == "".join(c["pieces"]) else [c["text"]]
                    if "stream_drops_chunk" in fake.bugs and len(pieces) > 2:
                        pieces = pieces[:1] + pieces[2:]
                    for p in pieces:
                        events.append(_chunk(i, p, None, chat))
                    events.append(_chunk(i, "", c["finish"], chat))
                events[-1]["usage"] = usage
                for e in events:
                    self.wfile.write(f"data: {json.dumps(e)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        return Handler


def _chunk(index: int, text: str, finish, chat: bool) -> dict:
    if chat:
        return {"choices": [{"index": index, "delta": {"content": text}, "finish_reason": finish}]}
    return {"choices": [{"index": index, "text": text, "finish_reason": finish}]}
