"""Find the pull request that fixed a closed issue, in decreasing order of evidence.

1. ``closing-commit``: the issue's ``closed`` timeline event names a commit; its merged pull request.
2. ``closing-reference``: a merged pull request cross-referencing the issue says "fixes/closes/resolves #N".
3. ``cross-reference``: another merged pull request of the same repository cross-references the issue
   (the one merged closest to the issue's closing).
4. ``pr-body``: search merged pull requests for "fixes/closes/resolves #N" in title or body.
5. ``commit-message``: search commits for such a message; the merged pull request containing it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from enginebugs.mining import parse
from enginebugs.mining.client import GitHubClient
from enginebugs.mining.errors import NotFound


@dataclass(frozen=True)
class FixLink:
    pull: dict[str, Any]  # the /pulls/N object
    method: str


class FixFinder:
    """Fix linkage for one repository (``names``: its current and former owner/name)."""

    def __init__(self, client: GitHubClient, repo: str, names: tuple[str, ...], *, search: bool = True):
        self.client, self.repo, self.names, self.search = client, repo, names, search

    def find(self, number: int, closed_at: str | None) -> FixLink | None:
        what = f"{self.repo}#{number}"
        events = [e for page in self.client.pages(f"/repos/{self.repo}/issues/{number}/timeline",
                                                  what=f"{what} timeline")
                  for e in parse.item_list(page.data, f"{what} timeline page {page.number}")]
        for event in events:
            if event.get("event") == "closed" and event.get("commit_id"):
                pull = self._merged_pull_of_commit(event["commit_id"], what)
                if pull:
                    return FixLink(pull, "closing-commit")
        merged = [issue for issue in (self._cross_referenced_pull(e) for e in events) if issue]
        closing = [i for i in merged if parse.closes(f"{i.get('title')}\n{i.get('body')}", number, self.names)]
        for candidates, method in ((closing, "closing-reference"), (merged, "cross-reference")):
            if candidates:
                best = min(candidates, key=lambda i: _distance(i["pull_request"]["merged_at"], closed_at))
                return FixLink(self._pull(best["number"], what), method)
        return self._search(number, what) if self.search else None

    def _cross_referenced_pull(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The merged pull request of this repository behind a ``cross-referenced`` event, if any."""
        if event.get("event") != "cross-referenced":
            return None
        issue = (event.get("source") or {}).get("issue") or {}
        pull = issue.get("pull_request") or {}
        repo = parse.repo_of_url(issue.get("html_url", ""))
        if not pull.get("merged_at") or not repo or repo.lower() not in {n.lower() for n in self.names}:
            return None
        return issue

    def _search(self, number: int, what: str) -> FixLink | None:
        found = self.client.get("/search/issues", {"q": f"repo:{self.repo} is:pr is:merged {number}"},
                                what=f"{what} pull request search")
        for item in parse.item_list(found.data, f"{what} pull request search", key="items"):
            if parse.closes(f"{item.get('title')}\n{item.get('body')}", number, self.names):
                pull = self._pull(item["number"], what)
                if pull.get("merged_at"):
                    return FixLink(pull, "pr-body")
        found = self.client.get("/search/commits", {"q": f"repo:{self.repo} {number}"}, what=f"{what} commit search")
        for item in parse.item_list(found.data, f"{what} commit search", key="items"):
            message = (item.get("commit") or {}).get("message")
            if item.get("sha") and parse.closes(message, number, self.names):
                pull = self._merged_pull_of_commit(item["sha"], what)
                if pull:
                    return FixLink(pull, "commit-message")
        return None

    def _merged_pull_of_commit(self, sha: str, what: str) -> dict[str, Any] | None:
        """The merged pull request containing a commit; none for a commit unknown here (e.g. from a fork)."""
        try:
            found = self.client.get(f"/repos/{self.repo}/commits/{sha}/pulls",
                                    what=f"{what} pull requests of {sha[:12]}")
        except NotFound:
            return None
        for item in parse.item_list(found.data, f"{what} pull requests of {sha[:12]}"):
            if item.get("merged_at") and "number" in item:
                return self._pull(item["number"], what)
        return None

    def _pull(self, number: int, what: str) -> dict[str, Any]:
        where = f"{what} fix pull request #{number}"
        return parse.require(self.client.get(f"/repos/{self.repo}/pulls/{number}", what=where).data,
                             parse.PULL_KEYS, where)


def _distance(merged_at: str, closed_at: str | None) -> float:
    return abs(parse.days_between(merged_at, closed_at)) if closed_at else 0.0
