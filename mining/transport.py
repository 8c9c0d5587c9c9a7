"""PyGithub's connection classes with two guards the miner needs on every request.

* A total deadline per response: ``requests``' timeout bounds each socket read, so a body that
  trickles in a few bytes at a time never times out; here the body is read in chunks and the
  request fails with ``requests.Timeout`` once ``timeout`` seconds have passed in all.
* No lossy redirect: PyGithub follows a 301 with the Location's path only, so a listing of a renamed
  repository (``/repos/OLD/issues?state=closed&labels=bug``) silently becomes an unfiltered listing.
  A 301 answering a request with a query raises :class:`LossyRedirect` instead.

Installed per Requester (``install``), not with PyGithub's class-wide ``injectConnectionClasses``,
which would also switch off connection reuse.
"""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError
from github.Requester import (HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass, Requester,
                              RequestsResponse)

CHUNK = 16 * 1024


class LossyRedirect(Exception):
    """A 301 for a request whose query string a redirect would drop."""

    def __init__(self, path: str, location: str):
        super().__init__(f"{urlsplit(path).path} moved to {location}")
        self.location = location


class _Guarded:
    timeout: Any
    session: requests.Session
    verb: str
    url: str
    input: Any
    headers: dict[str, str]
    protocol: str
    host: str
    port: int
    verify: Any

    def getresponse(self) -> RequestsResponse:
        url = f"{self.protocol}://{self.host}:{self.port}{self.url}"
        deadline = time.monotonic() + float(self.timeout or 60)
        response = self.session.request(self.verb, url, headers=self.headers, data=self.input, timeout=self.timeout,
                                        verify=self.verify, allow_redirects=False, stream=True)
        try:
            if response.status_code == 301 and urlsplit(self.url).query:
                raise LossyRedirect(self.url, response.headers.get("location", "?"))
            body = _read_before(response, deadline, self.timeout)
        finally:
            response.close()
        response._content = bytes(body)  # what ``response.text`` decodes, as if read without streaming
        response._content_consumed = True
        return RequestsResponse(response)


def _read_before(response: requests.Response, deadline: float, timeout: Any) -> bytes:
    """The whole body, one socket read at a time, raising ``requests.Timeout`` past ``deadline``."""
    body = bytearray()
    try:
        while chunk := response.raw.read1(CHUNK, decode_content=True):
            body += chunk
            if time.monotonic() > deadline:
                raise requests.Timeout(f"response body still arriving after {timeout} s")
    except ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(str(exc)) from None
    except (ProtocolError, DecodeError) as exc:  # what requests' own reading reports as these
        raise requests.exceptions.ChunkedEncodingError(str(exc)) from None
    return bytes(body)


class GuardedHTTP(_Guarded, HTTPRequestsConnectionClass):
    pass


class GuardedHTTPS(_Guarded, HTTPSRequestsConnectionClass):
    pass


def install(requester: Requester, scheme: str) -> None:
    """Make ``requester`` open guarded connections (it creates its connection lazily, on first use)."""
    if not hasattr(requester, "_Requester__connectionClass"):  # PyGithub renamed it: fail loudly, not unguarded
        raise RuntimeError("this PyGithub has no Requester connection class to guard; pin PyGithub 2.x")
    requester._Requester__connectionClass = GuardedHTTPS if scheme == "https" else GuardedHTTP  # type: ignore[attr-defined]
