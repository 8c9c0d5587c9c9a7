"""Listing and fix linkage through GitHub's GraphQL API: 50 issues with their timelines per request.

``GraphQLLister.pages`` yields the same pages the REST listing gives (issue objects in the REST
shape), and puts what the fix linkage will ask for into ``client.prefetched`` under the REST URLs it
would have requested: each issue's timeline (closing commits, cross-references, reopenings, label
events, plus GitHub's own ``closedByPullRequestsReferences`` as cross-references), the candidate pull
requests with their changed files (one batched query per page), and the pull requests of closing
commits. The linkage code then runs unchanged and spends no request on them; anything not
prefetched (a timeline longer than one page, a pull request with over 100 files) falls back to REST.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from enginebugs.mining.client import PER_PAGE, GitHubClient, Page
from enginebugs.mining.errors import MalformedResponse

ISSUES_PER_QUERY = 50
PULLS_PER_QUERY = 50
_PULL_FIELDS = "number url title body merged mergedAt"
ISSUES_QUERY = """
query($owner: String!, $name: String!, $states: [IssueState!], $labels: [String!], $since: DateTime, $after: String) {
  repository(owner: $owner, name: $name) {
    issues(first: %d, after: $after, states: $states, labels: $labels, filterBy: {since: $since},
           orderBy: {field: UPDATED_AT, direction: ASC}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        number url title body state stateReason createdAt updatedAt closedAt authorAssociation
        author { login }
        comments { totalCount }
        labels(first: 100) { nodes { name } }
        closedByPullRequestsReferences(first: 20, includeClosedPrs: true) { nodes { %s repository { nameWithOwner } } }
        timelineItems(first: 100, itemTypes: [CLOSED_EVENT, REOPENED_EVENT, CROSS_REFERENCED_EVENT, LABELED_EVENT,
                                              UNLABELED_EVENT]) {
          pageInfo { hasNextPage }
          nodes {
            __typename
            ... on ClosedEvent { createdAt closer { __typename ... on Commit { oid
                associatedPullRequests(first: 5) { nodes { number merged mergedAt } } } } }
            ... on ReopenedEvent { createdAt }
            ... on LabeledEvent { createdAt label { name } }
            ... on UnlabeledEvent { createdAt label { name } }
            ... on CrossReferencedEvent { createdAt source { __typename ... on PullRequest { %s
                repository { nameWithOwner } } } }
          }
        }
      }
    }
  }
}
""" % (ISSUES_PER_QUERY, _PULL_FIELDS, _PULL_FIELDS)
PULL_QUERY = """%s: pullRequest(number: %d) { number url title body merged mergedAt mergeCommit { oid } additions
    deletions changedFiles labels(first: 50) { nodes { name } } files(first: 100) { pageInfo { hasNextPage }
    nodes { path } } }"""


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None


def rest_issue(node: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL issue node in the shape of a REST issue object."""
    return {
        "number": node["number"], "html_url": node["url"], "title": node["title"], "body": node.get("body"),
        "state": _lower(node["state"]), "state_reason": _lower(node.get("stateReason")),
        "created_at": node["createdAt"], "updated_at": node["updatedAt"], "closed_at": node.get("closedAt"),
        "author_association": node.get("authorAssociation"), "user": {"login": (node.get("author") or {}).get("login")},
        "comments": (node.get("comments") or {}).get("totalCount"),
        "labels": [{"name": label["name"]} for label in (node.get("labels") or {}).get("nodes") or []],
    }


def _pull_as_issue(pull: dict[str, Any]) -> dict[str, Any]:
    """A PullRequest source node as the issue object a REST cross-reference event carries."""
    return {"number": pull["number"], "html_url": pull["url"], "title": pull.get("title"), "body": pull.get("body"),
            "pull_request": {"merged_at": pull.get("mergedAt") if pull.get("merged") else None}}


def rest_timeline(node: dict[str, Any], repo: str) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """(REST timeline events, {closing commit sha: its merged pull requests}) of an issue node."""
    events, commits = [], {}
    for item in node["timelineItems"]["nodes"]:
        kind, at = item.get("__typename"), item.get("createdAt")
        if kind == "ClosedEvent":
            closer = item.get("closer") or {}
            sha = closer.get("oid") if closer.get("__typename") == "Commit" else None
            if sha:
                commits[sha] = [{"number": p["number"], "merged_at": p.get("mergedAt")}
                                for p in (closer.get("associatedPullRequests") or {}).get("nodes") or []
                                if p.get("merged")]
            events.append({"event": "closed", "commit_id": sha, "created_at": at})
        elif kind == "ReopenedEvent":
            events.append({"event": "reopened", "created_at": at})
        elif kind in ("LabeledEvent", "UnlabeledEvent"):
            events.append({"event": "labeled" if kind == "LabeledEvent" else "unlabeled", "created_at": at,
                           "label": item.get("label") or {}})
        elif kind == "CrossReferencedEvent" and (item.get("source") or {}).get("__typename") == "PullRequest":
            events.append({"event": "cross-referenced", "created_at": at,
                           "source": {"type": "issue", "issue": _pull_as_issue(item["source"])}})
    seen = {e["source"]["issue"]["number"] for e in events if e["event"] == "cross-referenced"}
    for pull in (node.get("closedByPullRequestsReferences") or {}).get("nodes") or []:
        if pull["number"] not in seen and (pull.get("repository") or {}).get("nameWithOwner", repo).lower() == repo.lower():
            events.append({"event": "cross-referenced", "created_at": pull.get("mergedAt"),
                           "source": {"type": "issue", "issue": _pull_as_issue(pull)}})
    return events, commits


def rest_pull(node: dict[str, Any]) -> dict[str, Any]:
    return {"number": node["number"], "html_url": node["url"], "title": node.get("title"), "body": node.get("body"),
            "merged_at": node.get("mergedAt") if node.get("merged") else None,
            "merge_commit_sha": (node.get("mergeCommit") or {}).get("oid"), "additions": node.get("additions"),
            "deletions": node.get("deletions"), "changed_files": node.get("changedFiles"),
            "labels": [{"name": label["name"]} for label in (node.get("labels") or {}).get("nodes") or []]}


class GraphQLLister:
    """The issue listing of one repository through GraphQL, prefetching the fix linkage's REST answers."""

    def __init__(self, client: GitHubClient, repo: str, link_fixes: bool):
        self.client, self.repo, self.link_fixes = client, repo, link_fixes

    def pages(self, state: str, labels: tuple[str, ...], since: str | None) -> Iterator[Page]:
        owner, name = self.repo.split("/")
        variables: dict[str, Any] = {"owner": owner, "name": name, "labels": list(labels) or None,
                                     "states": None if state == "all" else [state.upper()], "since": since,
                                     "after": None}
        number = 1
        while True:
            what = f"{self.repo} issues (GraphQL) page {number}"
            response = self.client.graphql(ISSUES_QUERY, variables, what=what)
            try:
                issues = response.data["data"]["repository"]["issues"]
                nodes = issues["nodes"]
            except (KeyError, TypeError):
                raise MalformedResponse(f"{what}: no repository.issues in the answer") from None
            if self.link_fixes:
                self._prefetch(nodes, what)
            last = max(1, -(-issues.get("totalCount", 0) // ISSUES_PER_QUERY))
            yield Page(response.url, response.headers, [rest_issue(n) for n in nodes], number, last)
            if not issues["pageInfo"]["hasNextPage"]:
                return
            variables = {**variables, "after": issues["pageInfo"]["endCursor"]}
            number += 1

    def _prefetch(self, nodes: list[dict[str, Any]], what: str) -> None:
        base = f"/repos/{self.repo}"
        pulls: set[int] = set()
        for node in nodes:
            if node["timelineItems"]["pageInfo"]["hasNextPage"]:
                continue  # a long timeline: REST pages it
            events, commits = rest_timeline(node, self.repo)
            self.client.prefetched[f"{base}/issues/{node['number']}/timeline?per_page={PER_PAGE}"] = events
            pulls |= {e["source"]["issue"]["number"] for e in events if e["event"] == "cross-referenced"
                      and e["source"]["issue"]["pull_request"]["merged_at"]}
            for sha, merged in commits.items():
                self.client.prefetched[f"{base}/commits/{sha}/pulls"] = merged
                pulls |= {p["number"] for p in merged}
        ordered = sorted(pulls)
        owner, name = self.repo.split("/")
        for start in range(0, len(ordered), PULLS_PER_QUERY):
            chunk = ordered[start:start + PULLS_PER_QUERY]
            query = ("query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { "
                     + " ".join(PULL_QUERY % (f"pr{n}", n) for n in chunk) + " } }")
            data = self.client.graphql(query, {"owner": owner, "name": name}, what=f"{what} pull requests").data
            found = ((data or {}).get("data") or {}).get("repository") or {}
            for node in found.values():
                if not node:
                    continue
                self.client.prefetched[f"{base}/pulls/{node['number']}"] = rest_pull(node)
                files = node.get("files") or {}
                if not (files.get("pageInfo") or {}).get("hasNextPage"):
                    self.client.prefetched[f"{base}/pulls/{node['number']}/files?per_page={PER_PAGE}"] = [
                        {"filename": f["path"]} for f in files.get("nodes") or []]
