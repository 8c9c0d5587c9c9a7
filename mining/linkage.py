"""Find the pull request that fixed a closed issue, keeping only evidence of a *fix*.

Only issues closed as completed have a fix (``not_planned`` and ``duplicate`` closures have none).
A reopened issue is judged by its last closing: only evidence after its last reopening counts.
Evidence, strongest first (``evidence`` is what the record stores, with a confidence):

1. ``closing-commit``: the last ``closed`` event names a commit; its merged pull request.
2. ``closing-reference``: a merged pull request cross-referencing the issue says "fixes/closes/resolves
   #N"; the last one merged by the closing.
3. ``cross-reference``: another merged pull request of the repository cross-references the issue and
   touches code (not only documentation or tests); the last one merged by the closing, else the first
   merged after it.
4. ``search``: merged pull requests (``pr-body``) or commits (``commit-message``) found by the search
   API that say "fixes #N".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from enginebugs.mining import parse
from enginebugs.mining.client import GitHubClient
from enginebugs.mining.errors import NotFound

NO_FIX_REASONS = ("not_planned", "duplicate")
CONFIDENCE = {"closing-commit": 0.95, "closing-reference": 0.9, "cross-reference": 0.75, "pr-body": 0.6,
              "commit-message": 0.55}
EVIDENCE = {"pr-body": "search", "commit-message": "search"}
# Paths that do not make a pull request a code change: documentation, and tests on their own.
DOCS_RE = re.compile(r"(^|/)(docs?|documentation)/|\.(md|rst|txt|adoc)$|(^|/)(README|CHANGELOG|LICENSE)[^/]*$",
                     re.IGNORECASE)
TESTS_RE = re.compile(r"(^|/)(tests?|testing)/|(^|/)test_[^/]*$|_test\.\w+$", re.IGNORECASE)
SLACK_DAYS = 1 / 24  # a fix merged up to an hour after the closing still counts as "by the closing"


@dataclass(frozen=True)
class FixLink:
    pull: dict[str, Any]  # the /pulls/N object
    method: str  # closing-commit, closing-reference, cross-reference, pr-body or commit-message
    files: tuple[str, ...] = ()  # changed paths of the pull request

    @property
    def evidence(self) -> str:
        """closing-commit, closing-reference, cross-reference or search."""
        return EVIDENCE.get(self.method, self.method)

    @property
    def confidence(self) -> float:
        return CONFIDENCE[self.method]


def touches_code(files: tuple[str, ...]) -> bool:
    """At least one changed path that is neither documentation nor a test."""
    return any(not DOCS_RE.search(f) and not TESTS_RE.search(f) for f in files)


class FixFinder:
    """Fix linkage for one repository (``names``: its current and former owner/name)."""

    def __init__(self, client: GitHubClient, repo: str, names: tuple[str, ...], *, search: bool = True,
                 search_pulls: bool = True):
        self.client, self.repo, self.names, self.search = client, repo, names, search
        self.search_pulls = search_pulls  # off when GitHub's closing references were already seen (GraphQL)
        self.events: list[dict[str, Any]] | None = None  # the timeline the last ``find`` read

    def find(self, number: int, closed_at: str | None, state_reason: str | None = None) -> FixLink | None:
        self.events = None
        if state_reason in NO_FIX_REASONS:
            return None
        what = f"{self.repo}#{number}"
        events = self.events = [e for page in self.client.pages(f"/repos/{self.repo}/issues/{number}/timeline",
                                                                what=f"{what} timeline")
                                for e in parse.item_list(page.data, f"{what} timeline page {page.number}")]
        reopened = max((e.get("created_at") or "" for e in events if e.get("event") == "reopened"), default="")
        closings = [e for e in events if e.get("event") == "closed"]
        if closings and closings[-1].get("commit_id"):
            link = self._merged_pull_of_commit(closings[-1]["commit_id"], what, "closing-commit")
            if link:
                return link
        merged = [i for i in (self._cross_referenced_pull(e) for e in events)
                  if i and i["pull_request"]["merged_at"] > reopened]
        closing = [i for i in merged if parse.closes(f"{i.get('title')}\n{i.get('body')}", number, self.names)]
        if closing:
            return self._link(_by_the_closing(closing, closed_at)[0]["number"], what, "closing-reference")
        for issue in _by_the_closing([i for i in merged if i not in closing], closed_at):
            link = self._link(issue["number"], what, "cross-reference")
            if touches_code(link.files):
                return link
        return self._search(number, what, reopened) if self.search else None

    def timeline_facts(self) -> dict[str, Any]:
        """From the timeline the last ``find`` read (if it read one): reopen count and label history."""
        if self.events is None:
            return {}
        return {"reopen_count": sum(e.get("event") == "reopened" for e in self.events),
                "label_history": [{"at": e.get("created_at"), "label": (e.get("label") or {}).get("name"),
                                   "action": "added" if e["event"] == "labeled" else "removed"}
                                  for e in self.events if e.get("event") in ("labeled", "unlabeled")]}

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

    def _search(self, number: int, what: str, after: str) -> FixLink | None:
        found = self.client.get("/search/issues", {"q": f"repo:{self.repo} is:pr is:merged {number}"},
                                what=f"{what} pull request search") if self.search_pulls else None
        for item in parse.item_list(found.data, f"{what} pull request search", key="items") if found else ():
            if parse.closes(f"{item.get('title')}\n{item.get('body')}", number, self.names):
                link = self._link(item["number"], what, "pr-body")
                if (link.pull.get("merged_at") or "") > after:
                    return link
        found = self.client.get("/search/commits", {"q": f"repo:{self.repo} {number}"}, what=f"{what} commit search")
        for item in parse.item_list(found.data, f"{what} commit search", key="items"):
            message = (item.get("commit") or {}).get("message")
            if item.get("sha") and parse.closes(message, number, self.names):
                link = self._merged_pull_of_commit(item["sha"], what, "commit-message")
                if link and link.pull["merged_at"] > after:
                    return link
        return None

    def _merged_pull_of_commit(self, sha: str, what: str, method: str) -> FixLink | None:
        """The merged pull request containing a commit; none for a commit unknown here (e.g. from a fork)."""
        try:
            found = self.client.get(f"/repos/{self.repo}/commits/{sha}/pulls",
                                    what=f"{what} pull requests of {sha[:12]}")
        except NotFound:
            return None
        for item in parse.item_list(found.data, f"{what} pull requests of {sha[:12]}"):
            if item.get("merged_at") and "number" in item:
                return self._link(item["number"], what, method)
        return None

    def _link(self, number: int, what: str, method: str) -> FixLink:
        """The pull request object and its changed paths."""
        where = f"{what} fix pull request #{number}"
        pull = parse.require(self.client.get(f"/repos/{self.repo}/pulls/{number}", what=where).data,
                             parse.PULL_KEYS, where)
        files = tuple(f["filename"] for page in self.client.pages(f"/repos/{self.repo}/pulls/{number}/files",
                                                                  what=f"{where} files")
                      for f in parse.item_list(page.data, f"{where} files page {page.number}") if "filename" in f)
        return FixLink(pull, method, files)


def _by_the_closing(issues: list[dict[str, Any]], closed_at: str | None) -> list[dict[str, Any]]:
    """Candidates in order of preference: merged by the closing, latest first; then merged after it, earliest first."""
    def merged(issue: dict[str, Any]) -> str:
        return issue["pull_request"]["merged_at"]

    if not closed_at:
        return sorted(issues, key=merged, reverse=True)
    before = [i for i in issues if parse.days_between(closed_at, merged(i)) <= SLACK_DAYS]
    after = [i for i in issues if i not in before]
    return sorted(before, key=merged, reverse=True) + sorted(after, key=merged)
