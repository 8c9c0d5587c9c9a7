"""The fake GitHub's GraphQL endpoint: just the two query shapes the miner sends (issues with
timelines; pull requests by number under aliases), answered from the same synthetic data."""
from __future__ import annotations

import re
from typing import Any

from tests.github_fake.data import FakeGitHub, FakeRepo

_CLOSES = r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?\s+#{n}\b"


def answer(github: FakeGitHub, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    repo = github.repos.get(f"{variables.get('owner')}/{variables.get('name')}")
    if repo is None:
        return {"data": {"repository": None}, "errors": [{"type": "NOT_FOUND", "message": "Could not resolve"}]}
    if "issues(first:" in query:
        first = int(re.search(r"issues\(first: (\d+)", query).group(1))
        return {"data": {"repository": {"issues": _issues(repo, variables, first)}}}
    pulls = {alias: _pull(repo, int(n)) for alias, n in re.findall(r"(\w+): pullRequest\(number: (\d+)\)", query)}
    return {"data": {"repository": pulls}}


def _issues(repo: FakeRepo, variables: dict[str, Any], first: int) -> dict[str, Any]:
    items = [i for i in repo.issues.values() if not i.get("pull_request")]
    if variables.get("states"):
        items = [i for i in items if i["state"].upper() in variables["states"]]
    if variables.get("labels"):  # GraphQL's labels filter: any of them (REST's: all)
        items = [i for i in items if {x["name"] for x in i["labels"]} & set(variables["labels"])]
    if variables.get("since"):
        items = [i for i in items if i["updated_at"] >= variables["since"]]
    items.sort(key=lambda i: (i["updated_at"], i["number"]))
    offset = int(variables.get("after") or 0)
    chunk = items[offset:offset + first]
    return {"totalCount": len(items), "pageInfo": {"hasNextPage": offset + first < len(items),
                                                    "endCursor": str(offset + first)},
            "nodes": [_issue(repo, i) for i in chunk]}


def _pull_ref(repo: FakeRepo, number: int) -> dict[str, Any]:
    pull = repo.pulls[number]
    return {"number": number, "url": pull["html_url"], "title": pull["title"], "body": pull["body"],
            "merged": pull["merged"], "mergedAt": pull["merged_at"], "repository": {"nameWithOwner": repo.full_name}}


def _event(repo: FakeRepo, event: dict[str, Any]) -> dict[str, Any] | None:
    kind, at = event["event"], event.get("created_at")
    if kind == "closed":
        sha = event.get("commit_id")
        closer = None
        if sha and sha in repo.commits:
            closer = {"__typename": "Commit", "oid": sha, "associatedPullRequests": {"nodes": [
                {"number": n, "merged": True, "mergedAt": repo.pulls[n]["merged_at"]} for n in repo.commits[sha]["pulls"]]}}
        return {"__typename": "ClosedEvent", "createdAt": at, "closer": closer}
    if kind == "reopened":
        return {"__typename": "ReopenedEvent", "createdAt": at}
    if kind in ("labeled", "unlabeled"):
        return {"__typename": "LabeledEvent" if kind == "labeled" else "UnlabeledEvent", "createdAt": at,
                "label": {"name": event["label"]["name"]}}
    if kind == "cross-referenced":
        number = event["source"]["issue"]["number"]
        source = {"__typename": "PullRequest", **_pull_ref(repo, number)} if number in repo.pulls else {
            "__typename": "Issue"}
        return {"__typename": "CrossReferencedEvent", "createdAt": at, "source": source}
    return None


def _issue(repo: FakeRepo, issue: dict[str, Any]) -> dict[str, Any]:
    number = issue["number"]
    events = [e for e in (_event(repo, e) for e in repo.timelines.get(number, [])) if e]
    closing = [_pull_ref(repo, n) for n, p in repo.pulls.items()
               if re.search(_CLOSES.format(n=number), p["body"] or "", re.IGNORECASE)]
    return {
        "number": number, "url": issue["html_url"], "title": issue["title"], "body": issue["body"],
        "state": issue["state"].upper(), "stateReason": (issue.get("state_reason") or "").upper() or None,
        "createdAt": issue["created_at"], "updatedAt": issue["updated_at"], "closedAt": issue["closed_at"],
        "authorAssociation": issue["author_association"], "author": {"login": issue["user"]["login"]},
        "comments": {"totalCount": issue["comments"]},
        "labels": {"nodes": [{"name": x["name"]} for x in issue["labels"]]},
        "closedByPullRequestsReferences": {"nodes": closing},
        "timelineItems": {"pageInfo": {"hasNextPage": len(events) > 100}, "nodes": events[:100]},
    }


def _pull(repo: FakeRepo, number: int) -> dict[str, Any] | None:
    pull = repo.pulls.get(number)
    if pull is None:
        return None
    files = repo.files.get(number, [])
    return {**_pull_ref(repo, number), "mergeCommit": {"oid": pull["merge_commit_sha"]} if pull["merged"] else None,
            "additions": pull["additions"], "deletions": pull["deletions"], "changedFiles": pull["changed_files"],
            "labels": {"nodes": [{"name": x["name"]} for x in pull.get("labels", [])]},
            "files": {"pageInfo": {"hasNextPage": len(files) > 100}, "nodes": [{"path": f["filename"]} for f in files[:100]]}}
