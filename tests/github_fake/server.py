"""A local HTTP server speaking the GitHub REST API for the endpoints the miner uses.

Pagination with ``Link`` headers (``per_page`` up to 100), ``X-RateLimit-*`` headers with a quota
per token and resource, 401 for unknown tokens, 404 for unknown objects, and injectable faults:

    rate_limit  403 with X-RateLimit-Remaining: 0 and a reset ``seconds`` ahead (the token's quota
                is used up until then)
    secondary   403 "secondary rate limit" with Retry-After: ``seconds``
    502         Bad Gateway
    reset       the headers and half the body, then the connection is reset
    truncated   200 with the JSON cut in half
    trickle     200 whose body arrives 64 bytes every ``seconds``
    gone        410 Gone (an issue deleted since it was listed)
    timeout     answers only after ``seconds``
    kill        SIGKILLs process ``pid`` (the client under test) and drops the connection
"""
from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.github_fake import graphql
from tests.github_fake.data import FakeGitHub, FakeRepo

NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
PRIMARY = {"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest"}
SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}
REPO = r"/repos/(?P<repo>[\w.-]+/[\w.-]+)"


@dataclass
class Fault:
    kind: str
    path: str = ""  # regex searched in "path?query"
    nth: int = 1  # first matching request it hits
    times: int = 1  # how many matching requests in a row
    seconds: float = 1.0
    pid: int | None = None
    seen: int = 0


@dataclass
class Logged:
    path: str
    query: dict[str, str]
    token: str | None
    status: int = 0


@dataclass
class _Quota:
    used: int = 0
    reset: float = 0.0


@dataclass
class FakeServer:
    """Run with ``with FakeServer(github) as server:``; ``server.url`` is the API base URL."""

    github: FakeGitHub
    tokens: set[str] | None = None  # None: any token (or none) is accepted
    limits: dict[str, int] = field(default_factory=lambda: {"core": 5000, "search": 5000, "graphql": 5000})
    windows: dict[str, float] = field(default_factory=lambda: {"core": 3600.0, "search": 60.0, "graphql": 3600.0})
    graphql: bool = True  # False: POST /graphql is a 404, as on an old GitHub Enterprise
    token_limits: dict[str, int] = field(default_factory=dict)  # core limit per token
    faults: list[Fault] = field(default_factory=list)
    log: list[Logged] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._quotas: dict[tuple[str | None, str], _Quota] = {}
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> "FakeServer":
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self  # type: ignore[attr-defined]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def fault(self, kind: str, path: str = "", **kwargs: Any) -> Fault:
        fault = Fault(kind, path, **kwargs)
        self.faults.append(fault)
        return fault

    def count(self, pattern: str = "") -> int:
        """Requests whose path matches ``pattern`` (a regex searched in the path)."""
        return sum(1 for entry in self.log if re.search(pattern, entry.path))

    # -- per request -----------------------------------------------------------------------------
    def _take_fault(self, target: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if re.search(fault.path, target):
                    fault.seen += 1
                    if fault.nth <= fault.seen < fault.nth + fault.times:
                        return fault
        return None

    def _quota(self, token: str | None, resource: str) -> tuple[_Quota, int]:
        limit = self.limits[resource]
        if resource == "core":
            limit = self.token_limits.get(token or "", limit)
        quota = self._quotas.setdefault((token, resource), _Quota())
        now = time.time()
        if now >= quota.reset:
            quota.used, quota.reset = 0, now + self.windows[resource]
        return quota, limit

    def rate_headers(self, token: str | None, resource: str) -> tuple[dict[str, str], bool]:
        """(headers, allowed): spends one request of the token's quota when allowed."""
        with self._lock:
            quota, limit = self._quota(token, resource)
            allowed = quota.used < limit
            if allowed:
                quota.used += 1
            remaining, reset = limit - quota.used, quota.reset
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(math.ceil(reset)), "X-RateLimit-Used": str(limit - remaining),
                "X-RateLimit-Resource": resource}, allowed

    def block(self, token: str | None, resource: str, seconds: float) -> None:
        """Use up the token's quota; the window resets ``seconds`` from now."""
        with self._lock:
            quota, limit = self._quota(token, resource)
            quota.used, quota.reset = limit, time.time() + seconds

    def respond(self, path: str, query: dict[str, str], base: str) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body, extra headers) of a GET; a former repository name gets GitHub's 301 to
        ``/repositories/ID/...`` (query kept in the Location, as GitHub does)."""
        moved = re.match(REPO + r"(?P<rest>/.*)?$", path)
        if moved and moved["repo"] in self.github.moved:
            target = self.github.moved[moved["repo"]]
            location = f"{base}/repositories/{target.id}{moved['rest'] or ''}"
            return 301, {"message": "Moved Permanently", "url": location}, {
                "Location": location + (f"?{urlencode(query)}" if query else "")}
        by_id = re.match(r"/repositories/(?P<id>\d+)(?P<rest>/.*)?$", path)
        if by_id:
            repo = next((r for r in self.github.repos.values() if r.id == int(by_id["id"])), None)
            if repo is None:
                return 404, NOT_FOUND, {}
            path = f"/repos/{repo.full_name}{by_id['rest'] or ''}"
        for pattern, handler in _ROUTES:
            match = re.fullmatch(pattern, path)
            if match:
                args = match.groupdict()
                repo = self.github.repos.get(args.pop("repo", None) or "")
                if repo is None and pattern.startswith(REPO):
                    return 404, NOT_FOUND, {}
                return handler(self, repo, query, base, path, **args)
        return 404, NOT_FOUND, {}


# -- endpoints ---------------------------------------------------------------------------------
def _page(items: list[Any], query: dict[str, str], base: str, path: str) -> tuple[int, Any, dict[str, str]]:
    per_page = min(100, int(query.get("per_page", 30)))
    page = int(query.get("page", 1))
    last = max(1, math.ceil(len(items) / per_page))
    chunk = items[(page - 1) * per_page: page * per_page]
    links = []

    def link(number: int, rel: str) -> None:
        links.append(f'<{base}{path}?{urlencode({**query, "page": number})}>; rel="{rel}"')

    if page < last:
        link(page + 1, "next")
        link(last, "last")
    if page > 1:
        link(1, "first")
        link(page - 1, "prev")
    return 200, chunk, ({"Link": ", ".join(links)} if links else {})


def _list_issues(fake: FakeServer, repo: FakeRepo, query: dict[str, str], base: str, path: str):
    items = list(repo.issues.values())
    state = query.get("state", "open")
    if state != "all":
        items = [i for i in items if i["state"] == state]
    for label in filter(None, query.get("labels", "").split(",")):
        items = [i for i in items if label in {x["name"] for x in i["labels"]}]
    if "since" in query:
        items = [i for i in items if i["updated_at"] >= query["since"]]
    key = {"created": "created_at", "updated": "updated_at", "comments": "comments"}[query.get("sort", "created")]
    items.sort(key=lambda i: (i[key], i["number"]), reverse=query.get("direction", "desc") == "desc")
    return _page(items, query, base, path)


def _one(collection: str):
    def handler(fake: FakeServer, repo: FakeRepo, query, base, path, number: str):
        item = getattr(repo, collection).get(int(number))
        return (200, item, {}) if item is not None else (404, NOT_FOUND, {})
    return handler


def _listed(collection: str):
    def handler(fake: FakeServer, repo: FakeRepo, query, base, path, number: str):
        items = getattr(repo, collection).get(int(number))
        return _page(items, query, base, path) if items is not None else (404, NOT_FOUND, {})
    return handler


def _pulls_of_commit(fake: FakeServer, repo: FakeRepo, query, base, path, sha: str):
    commit = repo.commits.get(sha)
    if commit is None:
        return 422, {"message": "No commit found for SHA"}, {}
    return 200, [repo.pulls[n] for n in commit["pulls"]], {}


def _search_terms(query: dict[str, str]) -> tuple[str | None, set[str], list[str]]:
    """(repo, qualifiers, free terms) of a search query ``q``."""
    words = query.get("q", "").split()
    quals = {w for w in words if ":" in w}
    terms = [w for w in words if ":" not in w]
    repo = next((w.split(":", 1)[1] for w in quals if w.startswith("repo:")), None)
    return repo, quals, terms


def _search_issues(fake: FakeServer, repo, query, base, path):
    name, quals, terms = _search_terms(query)
    found = fake.github.repos.get(name or "")
    items = list(found.issues.values()) if found else []
    if "is:pr" in quals:
        items = [i for i in items if i.get("pull_request")]
    if "is:merged" in quals:
        items = [i for i in items if (i.get("pull_request") or {}).get("merged_at")]
    items = [i for i in items if all(t.lower() in f"{i['title']} {i['body']}".lower() for t in terms)]
    return 200, {"total_count": len(items), "incomplete_results": False, "items": items}, {}


def _search_commits(fake: FakeServer, repo, query, base, path):
    name, _, terms = _search_terms(query)
    found = fake.github.repos.get(name or "")
    commits = found.commits.items() if found else []
    items = [{"sha": sha, "commit": {"message": c["message"]}} for sha, c in commits
             if all(t.lower() in c["message"].lower() for t in terms)]
    return 200, {"total_count": len(items), "incomplete_results": False, "items": items}, {}


def _repository(fake: FakeServer, repo: FakeRepo, query, base, path):
    return 200, repo.summary(), {}


_ROUTES = (
    (REPO, _repository),
    (REPO + "/issues", _list_issues),
    (REPO + r"/issues/(?P<number>\d+)", _one("issues")),
    (REPO + r"/issues/(?P<number>\d+)/timeline", _listed("timelines")),
    (REPO + r"/issues/(?P<number>\d+)/comments", _listed("comments")),
    (REPO + r"/pulls/(?P<number>\d+)", _one("pulls")),
    (REPO + r"/pulls/(?P<number>\d+)/files", _listed("files")),
    (REPO + r"/commits/(?P<sha>[0-9a-f]{7,40})/pulls", _pulls_of_commit),
    (r"/search/issues", _search_issues),
    (r"/search/commits", _search_commits),
)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # dropped connections are part of the faults


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeGitHub/1.0"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle stalls

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default access log
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self._serve(None)

    def do_POST(self) -> None:  # noqa: N802 - http.server API: only GraphQL
        length = int(self.headers.get("Content-Length") or 0)
        try:
            self._serve(json.loads(self.rfile.read(length) or b"{}"))
        except ValueError:
            self._send(Logged(self.path, {}, None), 400, {"message": "Problems parsing JSON"}, {})

    def _serve(self, posted: dict[str, Any] | None) -> None:
        fake: FakeServer = self.server.fake  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query)) if posted is None else dict(posted.get("variables") or {})
        auth = self.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else None
        entry = Logged(parts.path, query, token)
        with fake._lock:
            fake.log.append(entry)
        resource = ("graphql" if posted is not None else "search" if parts.path.startswith("/search/") else "core")
        fault = fake._take_fault(self.path)
        if fault and fault.kind == "kill":
            os.kill(fault.pid or os.getpid(), signal.SIGKILL)
            return self._drop(entry)
        if fault and fault.kind == "rate_limit":
            fake.block(token, resource, fault.seconds)
        if fake.tokens is not None and token not in fake.tokens:
            return self._send(entry, 401, {"message": "Bad credentials"}, {})
        headers, allowed = fake.rate_headers(token, resource)
        if not allowed:
            return self._send(entry, 403, PRIMARY, headers)
        if fault and fault.kind == "secondary":
            return self._send(entry, 403, SECONDARY, {**headers, "Retry-After": str(math.ceil(fault.seconds))})
        if fault and fault.kind == "502":
            return self._send(entry, 502, {"message": "Server Error"}, headers)
        if fault and fault.kind == "gone":
            return self._send(entry, 410, {"message": "This issue was deleted"}, headers)
        if fault and fault.kind == "timeout":
            time.sleep(fault.seconds)
        if posted is None:
            status, body, extra = fake.respond(parts.path, query, fake.url)
        elif parts.path == "/graphql" and fake.graphql:
            status, body, extra = 200, graphql.answer(fake.github, posted.get("query", ""), query), {}
        else:  # a GitHub Enterprise without GraphQL
            status, body, extra = 404, NOT_FOUND, {}
        self._send(entry, status, body, {**headers, **extra}, cut=fault.kind if fault else None,
                   pause=fault.seconds if fault else 0.0)

    def _send(self, entry: Logged, status: int, body: Any, headers: dict[str, str], cut: str | None = None,
              pause: float = 0.0) -> None:
        entry.status = status
        data = json.dumps(body).encode()
        sent = data[: len(data) // 2] if cut in ("truncated", "reset") else data
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data) if cut == "reset" else len(sent)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if cut == "trickle":
                for start in range(0, len(sent), 64):
                    self.wfile.write(sent[start:start + 64])
                    self.wfile.flush()
                    time.sleep(pause)
            self.wfile.write(b"" if cut == "trickle" else sent)
            self.wfile.flush()
            if cut == "reset":
                self._drop(entry)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drop(self, entry: Logged) -> None:
        """Close the connection with a TCP reset."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
