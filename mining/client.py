"""GET requests to the GitHub REST API through PyGithub, with token rotation, rate-limit waits and retries.

PyGithub does the HTTP, authentication and header parsing (``Github.requester``); its own urllib3
retries are switched off (``retry=None``) so that this module decides: 5xx, timeouts, broken
connections and secondary rate limits are retried with exponential backoff; a primary rate limit
moves to another token or waits for the reset with a countdown; 404/410 fail at once. Tokens
appear in no message: tokens are named by their position ("token 2/3").
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from github import Auth, Github, GithubException
from github.Requester import Requester

from enginebugs.mining import transport
from enginebugs.mining.errors import MalformedResponse, MineError, Moved, NotFound
from enginebugs.mining.progress import Reporter
from enginebugs.mining.quota import Slot, TokenPool

DEFAULT_API_URL = "https://api.github.com"
TOKEN_ENV = "GITHUB_TOKEN"
PER_PAGE = 100
USER_AGENT = "enginebugs-miner"
ARCHIVED_HEADERS = ("link", "date")  # what a replay of the archive needs
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@dataclass(frozen=True)
class ClientSettings:
    api_url: str = DEFAULT_API_URL
    timeout: int = 15  # seconds (PyGithub wants an int)
    retries: int = 5  # further attempts after a transient failure
    backoff: float = 1.0  # first retry delay; doubles each time
    backoff_max: float = 60.0
    secondary_wait: float = 60.0  # secondary rate limit without Retry-After
    min_quota: int = 50  # switch token / wait when fewer requests are left
    max_rate_waits: int = 10
    request_spacing: float | None = None  # PyGithub's seconds_between_requests


@dataclass
class Response:
    url: str  # path and query, as archived
    headers: dict[str, Any]
    data: Any


@dataclass
class Page(Response):
    number: int
    last: int | None  # last page number from the Link header, when given


def check_api_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host; ``ValueError`` saying what is wrong otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--api-url must be an http(s) URL such as {DEFAULT_API_URL} or "
                         f"https://HOST/api/v3, not {url!r}")
    try:
        _ = parts.port  # urllib raises here for a port that is not a number
    except ValueError:
        raise ValueError(f"--api-url has a bad port: {url!r}") from None
    return url.strip().rstrip("/")


def tokens_from_env(name: str = TOKEN_ENV) -> list[str]:
    """Tokens from an environment variable; several may be separated by commas or whitespace."""
    return [t for t in re.split(r"[\s,]+", os.environ.get(name, "")) if t]


def next_link(headers: dict[str, Any], rel: str = "next") -> str | None:
    for part in str(headers.get("link") or "").split(","):
        match = re.match(r'\s*<([^>]+)>\s*;\s*rel="([^"]+)"', part)
        if match and match.group(2) == rel:
            return match.group(1)
    return None


def _page_number(url: str | None) -> int | None:
    if not url:
        return None
    values = Requester.get_parameters_of_url(url).get("page")
    return int(values[0]) if values else None


def _display_url(url: str, params: dict[str, Any] | None) -> str:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if params:
        path += ("&" if parts.query else "?") + urlencode(sorted(params.items()))
    return path


class GitHubClient:
    """All GitHub traffic of the miner; ``requests_used`` counts every HTTP attempt."""

    def __init__(self, tokens: list[str], settings: ClientSettings = ClientSettings(),
                 reporter: Reporter | None = None):
        self.settings = settings
        self.reporter = reporter or Reporter(quiet=True)
        self._secrets = tuple(t for t in tokens if t)
        self.pool: TokenPool[Github] = TokenPool([self._github(t) for t in tokens] or [self._github(None)],
                                                 settings.min_quota)
        self.requests_used = 0
        self.journal: list[tuple[str, dict[str, str], Any]] = []  # (url, headers, data) of each success, archived
        self.prefetched: dict[str, Any] = {}  # REST URL -> the answer a GraphQL query already gave

    def _github(self, token: str | None) -> Github:
        api_url = check_api_url(self.settings.api_url)
        github = Github(
            base_url=api_url, auth=Auth.Token(token) if token else None,
            per_page=PER_PAGE, retry=None, timeout=self.settings.timeout, user_agent=USER_AGENT,
            seconds_between_requests=self.settings.request_spacing, lazy=True,
        )
        transport.install(github.requester, urlsplit(api_url).scheme)
        return github

    def redact(self, text: str) -> str:
        """``text`` with every token replaced: for messages that quote a server or library."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def drain(self) -> list[tuple[str, dict[str, str], Any]]:
        """Take the responses fetched since the last drain (to archive them with the parsed records)."""
        entries, self.journal = self.journal, []
        return entries

    def quota_line(self) -> str:
        """``quota core 4788/5000, search 28/30`` summed over the tokens (for progress lines)."""
        parts = []
        for resource in ("core", "search"):
            quotas = [s.quota(resource) for s in self.pool.slots if s.quota(resource).remaining is not None]
            if quotas:
                left = sum(q.remaining or 0 for q in quotas)
                parts.append(f"{resource} {left}/{sum(q.limit or 0 for q in quotas)}")
        return "quota " + (", ".join(parts) or "unknown")

    # -- requests ------------------------------------------------------------------------------
    def get(self, url: str, params: dict[str, Any] | None = None, *, what: str) -> Response:
        """GET one URL (a path relative to the API root, or a full Link URL); ``what`` names it in errors.
        A response the GraphQL path already gave (``prefetched``) costs no request."""
        shown = _display_url(url, params)
        if shown in self.prefetched:
            return Response(shown, {}, self.prefetched.pop(shown))
        resource = "search" if url.startswith("/search/") or "/search/" in urlsplit(url).path else "core"
        headers, data = self._send(resource, what, lambda requester: requester.requestJsonAndCheck(
            "GET", url, parameters=params))
        self.journal.append((shown, {k: str(headers[k]) for k in ARCHIVED_HEADERS if headers.get(k)}, data))
        return Response(shown, headers, data)

    def graphql(self, query: str, variables: dict[str, Any], *, what: str) -> Response:
        """One GraphQL query through PyGithub's requester (same retries, rotation and rate-limit waits)."""
        headers, data = self._send("graphql", what, lambda requester: requester.graphql_query(query, variables))
        shown = graphql_key(query, variables)
        self.journal.append((shown, {k: str(headers[k]) for k in ARCHIVED_HEADERS if headers.get(k)}, data))
        return Response(shown, headers, data)

    def _send(self, resource: str, what: str, call: Any) -> tuple[dict[str, Any], Any]:
        """``call(requester)`` until it succeeds: retries, token rotation and rate-limit waits."""
        failures = rate_waits = 0
        while True:
            slot, wait = self.pool.pick(resource, time.time())
            if wait > 0:
                rate_waits += 1
                self._check_rate_waits(rate_waits, what)
                self.reporter.countdown(wait, f"GitHub rate limit low for all {len(self.pool.slots)} token(s)"
                                              f" ({resource}); resuming at reset")
                continue
            try:
                self.requests_used += 1
                headers, data = call(slot.client.requester)
            except GithubException as exc:
                if exc.status == 401 and len(self.pool.slots) > 1:  # one bad token of several: drop it
                    self.reporter.note(f"{what}: token {slot.index} refused (HTTP 401, bad or expired): "
                                       f"dropped, {len(self.pool.slots) - 1} left")
                    self.pool.drop(slot)
                    continue
                retry_in = self._on_error(exc, slot, resource, what, failures)
                if retry_in is None:  # primary rate limit: the pool now knows, pick again
                    rate_waits += 1
                    self._check_rate_waits(rate_waits, what)
                    continue
                failures += 1
                self._pause(retry_in, f"{what}: HTTP {exc.status}; retry {failures}/{self.settings.retries}")
                continue
            except TRANSIENT_ERRORS as exc:
                failures += 1
                self._give_up_after(failures, what, type(exc).__name__)
                self._pause(self._backoff(failures), f"{what}: {type(exc).__name__}; "
                                                     f"retry {failures}/{self.settings.retries}")
                continue
            except transport.LossyRedirect as exc:
                raise Moved(f"{what}: {exc}; not followed, a redirect would drop the query "
                                f"(the repository was renamed or moved during the run: rerun)") from None
            except ValueError as exc:  # the JSON did not parse: truncated or not JSON at all
                failures += 1
                if failures > self.settings.retries:
                    raise MalformedResponse(self.redact(f"{what}: malformed JSON response ({exc}), "
                                                        f"still after {self.settings.retries} retries")) from None
                self._pause(self._backoff(failures), f"{what}: malformed JSON; retry {failures}/{self.settings.retries}")
                continue
            self.pool.observe(slot, resource, headers)
            return headers, data

    def pages(self, path: str, params: dict[str, Any] | None = None, *, what: str) -> Iterator[Page]:
        """Every page of a list endpoint, following the ``Link: rel="next"`` header."""
        url: str | None = path
        query: dict[str, Any] | None = {**(params or {}), "per_page": PER_PAGE}
        number, last = _page_number(path) or 1, None
        while url:
            response = self.get(url, query, what=f"{what} page {number}")
            last = _page_number(next_link(response.headers, "last")) or last
            yield Page(response.url, response.headers, response.data, number, last)
            url, query = next_link(response.headers), None
            number += 1

    # -- failures ------------------------------------------------------------------------------
    def _on_error(self, exc: GithubException, slot: Slot, resource: str, what: str, failures: int) -> float | None:
        """Seconds to wait before retrying, ``None`` after a primary rate limit; raises when it is final."""
        headers = {str(k).lower(): v for k, v in (exc.headers or {}).items()}
        message = exc.data.get("message", "") if isinstance(exc.data, dict) else str(exc.data or "")
        status = exc.status
        if status in (404, 410, 422):  # 422: e.g. a commit GitHub does not know in this repository
            kind = {404: "not found", 410: "gone", 422: "unprocessable"}[status]
            raise NotFound(f"{what}: {kind} (HTTP {status})", status) from None
        if status in (403, 429) and str(headers.get("x-ratelimit-remaining")) == "0":
            self.pool.exhaust(slot, resource, headers, time.time())
            self.reporter.note(f"{what}: primary rate limit hit on token {slot.index}/{len(self.pool.slots)}")
            return None
        secondary = "retry-after" in headers or Requester.isSecondaryRateLimitError(message)
        if status in (403, 429) and (secondary or status == 429):
            self._give_up_after(failures + 1, what, f"HTTP {status} (secondary rate limit)")
            after = float(headers.get("retry-after") or self.settings.secondary_wait)
            self.reporter.countdown(after, f"{what}: secondary rate limit")
            return 0.0
        if status >= 500:
            self._give_up_after(failures + 1, what, f"HTTP {status}")
            return self._backoff(failures + 1)
        hint = " (bad or expired token?)" if status == 401 else ""
        raise MineError(self.redact(f"{what}: HTTP {status}{hint}: {message}".rstrip(": "))) from None

    def _backoff(self, failures: int) -> float:
        return min(self.settings.backoff_max, self.settings.backoff * 2 ** (failures - 1))

    def _pause(self, seconds: float, reason: str) -> None:
        if seconds <= 0:
            return
        if seconds >= 2:
            self.reporter.countdown(seconds, reason)
        else:
            self.reporter.note(f"{reason} in {seconds:.1f} s")
            self.reporter.sleep(seconds)

    def _give_up_after(self, failures: int, what: str, cause: str) -> None:
        if failures > self.settings.retries:
            raise MineError(f"{what}: {cause}, still failing after {self.settings.retries} retries")

    def _check_rate_waits(self, waits: int, what: str) -> None:
        if waits > self.settings.max_rate_waits:
            raise MineError(f"{what}: still rate limited after {self.settings.max_rate_waits} waits for reset")


def graphql_key(query: str, variables: dict[str, Any]) -> str:
    """How a GraphQL query is named in the archive: the query's hash and its variables."""
    digest = hashlib.sha1(query.encode()).hexdigest()[:12]
    return f"/graphql?{urlencode(sorted({**variables, 'query': digest}.items()))}"


def as_json(data: Any) -> str:
    """How archived responses are stored."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True)
