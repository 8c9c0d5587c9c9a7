"""Synthetic GitHub data: repositories with issues, pull requests, timelines, comments and commits.

Everything here is generated (titles like "Synthetic bug 7: crash in scheduler"); no real issue
text. Timestamps come from a logical clock starting 2024-01-01 so runs are reproducible.
"""
from __future__ import annotations

import hashlib
import json
import random
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

WEB = "https://github.com"
API = "https://api.github.com"
FIX_METHODS = ("closing-commit", "closing-reference", "cross-reference", "pr-body", "commit-message", None)
_SYMPTOMS = ("crash", "wrong output", "hang", "memory growth", "slow decode", "build failure")
_PARTS = ("scheduler", "tokenizer", "kv cache", "sampler", "loader", "attention kernel", "server")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeRepo:
    full_name: str
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)  # issues and PRs, as /issues shows them
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)  # /pulls/N objects
    timelines: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha -> {"message", "pulls"}
    files: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # /pulls/N/files
    next_number: int = 1
    id: int = 0  # GitHub's repository id: kept across renames

    def __post_init__(self) -> None:
        self.id = self.id or zlib.crc32(self.full_name.encode())

    def summary(self) -> dict[str, Any]:
        """The ``/repos/OWNER/NAME`` object."""
        owner, name = self.full_name.split("/")
        return {"id": self.id, "name": name, "full_name": self.full_name, "owner": {"login": owner},
                "html_url": f"{WEB}/{self.full_name}", "url": f"{API}/repos/{self.full_name}"}


class FakeGitHub:
    """The state behind the fake server; tests mutate it between runs to simulate upstream edits."""

    def __init__(self, seed: int = 0):
        self.repos: dict[str, FakeRepo] = {}
        self.moved: dict[str, FakeRepo] = {}  # former name -> the repository it became
        self.clock = datetime(2024, 1, 1, tzinfo=timezone.utc)
        self.rng = random.Random(seed)

    def repo(self, full_name: str) -> FakeRepo:
        return self.repos.setdefault(full_name, FakeRepo(full_name))

    def rename(self, old: str, new: str) -> None:
        """Rename or transfer a repository: its id stays, every URL in it changes, and the old name
        answers with a 301 to ``/repositories/ID`` (``moved``)."""
        repo = self.repos.pop(old)
        for name in ("issues", "pulls", "timelines", "comments", "files"):
            text = json.dumps(getattr(repo, name)).replace(f"/{old}/", f"/{new}/")
            setattr(repo, name, {int(k): v for k, v in json.loads(text).items()})
        repo.full_name = new
        self.repos[new] = repo
        self.moved[old] = repo

    def tick(self, minutes: int = 7) -> str:
        self.clock += timedelta(minutes=minutes)
        return _stamp(self.clock)

    # -- building blocks -------------------------------------------------------------------------
    def add_issue(self, repo: str, title: str, body: str = "", *, labels: tuple[str, ...] = ("bug",),
                  number: int | None = None, comments: int = 0, author_association: str = "NONE") -> int:
        r = self.repo(repo)
        number = number or r.next_number
        r.next_number = max(r.next_number, number + 1)
        created = self.tick()
        r.issues[number] = {
            "id": 10_000 + number, "number": number, "title": title, "body": body, "state": "open",
            "state_reason": None, "locked": False, "labels": [_label(n) for n in labels],
            "user": {"login": f"user{number % 13}", "id": number % 13, "type": "User"},
            "author_association": author_association, "comments": comments,
            "created_at": created, "updated_at": created, "closed_at": None,
            "html_url": f"{WEB}/{repo}/issues/{number}", "url": f"{API}/repos/{repo}/issues/{number}",
            "repository_url": f"{API}/repos/{repo}",
        }
        r.comments[number] = [
            {"id": number * 100 + k, "user": {"login": f"user{k}"}, "author_association": "MEMBER",
             "created_at": created, "body": f"Synthetic comment {k} on #{number}."}
            for k in range(comments)
        ]
        r.timelines[number] = [{"event": "labeled", "label": {"name": n}, "created_at": created} for n in labels]
        return number

    def add_pull(self, repo: str, title: str, body: str = "", *, merged: bool = True,
                 labels: tuple[str, ...] = (), files: tuple[str, ...] | None = None) -> int:
        """A closed pull request (merged or not), listed by /issues like GitHub does; ``files`` are its
        changed paths (default: one or two source files)."""
        number = self.add_issue(repo, title, body, labels=labels)
        r = self.repo(repo)
        issue = r.issues[number]
        closed = self.tick(3)
        merged_at = closed if merged else None
        issue.update(state="closed", closed_at=closed, updated_at=closed,
                     html_url=f"{WEB}/{repo}/pull/{number}",
                     pull_request={"url": f"{API}/repos/{repo}/pulls/{number}",
                                   "html_url": f"{WEB}/{repo}/pull/{number}", "merged_at": merged_at})
        r.pulls[number] = {
            "number": number, "title": title, "body": body, "state": "closed", "merged": merged,
            "merged_at": merged_at, "created_at": issue["created_at"], "updated_at": closed, "closed_at": closed,
            "html_url": f"{WEB}/{repo}/pull/{number}", "changed_files": self.rng.randint(1, 9),
            "additions": self.rng.randint(1, 300), "deletions": self.rng.randint(0, 120),
            "labels": [_label(n) for n in labels],
        }
        if files is None:
            files = tuple(f"engine/{self.rng.choice(_PARTS).replace(' ', '_')}/{k}.py" for k in range(1 + number % 2))
        r.files[number] = [{"filename": f, "status": "modified", "additions": 1, "deletions": 1} for f in files]
        r.pulls[number]["changed_files"] = len(files)
        sha = hashlib.sha1(f"{repo}#{number}".encode()).hexdigest()
        r.commits[sha] = {"message": f"Merge pull request #{number}", "pulls": [number] if merged else []}
        r.pulls[number]["merge_commit_sha"] = sha
        return number

    def cross_reference(self, repo: str, issue: int, pull: int) -> None:
        r = self.repo(repo)
        r.timelines[issue].append({"event": "cross-referenced", "created_at": r.issues[pull]["created_at"],
                                   "source": {"type": "issue", "issue": dict(r.issues[pull])}})

    def close(self, repo: str, number: int, *, fix: str | None = None, reason: str = "completed") -> int | None:
        """Close an issue, first merging a fix linked the way ``fix`` (one of FIX_METHODS) says."""
        r = self.repo(repo)
        pull = self._fix(repo, number, fix) if fix else None
        closed = self.tick()
        commit = r.pulls[pull]["merge_commit_sha"] if fix == "closing-commit" else None
        r.issues[number].update(state="closed", state_reason=reason, closed_at=closed, updated_at=closed)
        r.timelines[number].append({"event": "closed", "commit_id": commit, "created_at": closed})
        return pull

    def reopen(self, repo: str, number: int) -> None:
        r = self.repo(repo)
        stamp = self.tick()
        r.issues[number].update(state="open", state_reason="reopened", closed_at=None, updated_at=stamp)
        r.timelines[number].append({"event": "reopened", "created_at": stamp})

    def _fix(self, repo: str, number: int, how: str) -> int:
        part = self.rng.choice(_PARTS)
        if how == "closing-commit":
            pull = self.add_pull(repo, f"Repair {part}", f"Fixes #{number}")
            self.cross_reference(repo, number, pull)
        elif how == "closing-reference":
            decoy = self.add_pull(repo, f"Refactor {part}", f"Touches the code of #{number}")
            self.cross_reference(repo, number, decoy)
            abandoned = self.add_pull(repo, f"Try {part}", f"Fixes #{number}", merged=False)
            self.cross_reference(repo, number, abandoned)
            pull = self.add_pull(repo, f"Correct {part}", f"This PR resolves: #{number} for good.")
            self.cross_reference(repo, number, pull)
            self.tick(60 * 24)  # the decoy is not the closest to the closing
            decoy2 = self.add_pull(repo, f"Tidy {part}", f"See #{number}")
            self.cross_reference(repo, number, decoy2)
        elif how == "cross-reference":
            pull = self.add_pull(repo, f"Improve {part}", f"Related to #{number}")
            self.cross_reference(repo, number, pull)
        elif how == "pr-body":
            self.add_pull(repo, f"Adjust {part}", f"Follow-up to #{number}")  # found by search, closes nothing
            pull = self.add_pull(repo, f"Adjust {part} again", f"Closes #{number}")
        elif how == "commit-message":
            pull = self.add_pull(repo, f"Batch of fixes in {part}", "Several small repairs.")
            sha = hashlib.sha1(f"{repo}#{number}/commit".encode()).hexdigest()
            self.repo(repo).commits[sha] = {"message": f"{part}: stop the {number % 7} overflow\n\nfixes #{number}",
                                            "pulls": [pull]}
        else:
            raise ValueError(how)
        return pull

    def edit_issue(self, repo: str, number: int, **changes: Any) -> None:
        """An upstream edit: changes fields and moves ``updated_at`` past every other issue."""
        r = self.repo(repo)
        latest = max(i["updated_at"] for i in r.issues.values())
        while _stamp(self.clock) <= latest:
            self.tick(1)
        if "labels" in changes:
            changes["labels"] = [_label(n) for n in changes["labels"]]
        r.issues[number].update(changes, updated_at=self.tick(1))


def _label(name: str) -> dict[str, Any]:
    return {"id": zlib.crc32(name.encode()) % 10_000, "name": name, "color": "ededed", "default": False}


def populate(github: FakeGitHub, repo: str, bugs: int, *, labels: tuple[str, ...] = ("bug",),
             noise: bool = True) -> dict[int, str | None]:
    """``bugs`` closed bugs, each fixed in one of the FIX_METHODS ways (in turn), plus noise: open bugs,
    closed non-bugs, closed not-planned bugs and pull requests labelled as bugs.

    Returns {issue number: fix method} for the closed bugs. Issues are closed in shuffled order so the
    update order differs from the creation order.
    """
    rng = github.rng
    numbers = []
    for i in range(bugs):
        numbers.append(github.add_issue(
            repo, f"Synthetic bug {i}: {rng.choice(_SYMPTOMS)} in {rng.choice(_PARTS)}",
            f"Steps: run synthetic case {i}.\nExpected no {rng.choice(_SYMPTOMS)}.", labels=labels,
            comments=i % 3, author_association=("NONE", "CONTRIBUTOR", "MEMBER")[i % 3]))
        if noise and i % 5 == 0:
            github.add_issue(repo, f"Synthetic open bug {i}", "Still open.", labels=labels)
            other = github.add_issue(repo, f"Synthetic feature request {i}", "Please add.", labels=("enhancement",))
            github.close(repo, other)
    fixes = {}
    order = numbers[:]
    rng.shuffle(order)
    for k, number in enumerate(order):
        method = FIX_METHODS[k % len(FIX_METHODS)]
        if noise and k % 11 == 10:
            github.close(repo, number, reason="not_planned")
            fixes[number] = None
            continue
        github.close(repo, number, fix=method)
        fixes[number] = method
        if noise and k % 9 == 0:
            github.add_pull(repo, f"Synthetic bug-labelled pull request {k}", "A PR with the bug label.", labels=labels)
    return fixes


LINKAGE_CASES = ("closing-commit", "closing-reference", "cross-reference", "pr-body", "commit-message",
                 "not-planned-with-pr", "by-hand-docs-mention", "follow-up-test-pr", "reopened-refixed",
                 "no-evidence", "docs-then-code")


def populate_linkage(github: FakeGitHub, repo: str, per_case: int) -> dict[int, tuple[str, int | None]]:
    """Closed bugs in every linkage category (``LINKAGE_CASES``), ``per_case`` of each, with the
    ground truth {issue: (case, the pull request that really fixed it, or None)}."""
    truth: dict[int, tuple[str, int | None]] = {}
    for k in range(per_case * len(LINKAGE_CASES)):
        case = LINKAGE_CASES[k % len(LINKAGE_CASES)]
        part = github.rng.choice(_PARTS)
        number = github.add_issue(repo, f"Synthetic linkage case {k}: {case}", "Synthetic steps.")
        if case in FIX_METHODS:
            truth[number] = (case, github.close(repo, number, fix=case))
        elif case == "not-planned-with-pr":  # a merged workaround PR mentions it, the bug is declined
            pull = github.add_pull(repo, f"Work around {part}", f"Related to #{number}")
            github.cross_reference(repo, number, pull)
            github.close(repo, number, reason="not_planned")
            truth[number] = (case, None)
        elif case == "by-hand-docs-mention":  # closed by hand; a docs PR merely mentions it
            pull = github.add_pull(repo, f"Document {part}", f"Mention #{number} in the FAQ",
                                   files=("docs/faq.md", "README.md"))
            github.cross_reference(repo, number, pull)
            github.close(repo, number)
            truth[number] = (case, None)
        elif case == "follow-up-test-pr":  # the fix, then a test-only PR merged right after the closing
            fix = github.add_pull(repo, f"Repair {part}", f"Related to #{number}")
            github.cross_reference(repo, number, fix)
            github.tick(60 * 24)
            github.close(repo, number)
            follow = github.add_pull(repo, f"Test {part}", f"Regression test for #{number}",
                                     files=(f"tests/test_{k}.py",))
            github.cross_reference(repo, number, follow)
            truth[number] = (case, fix)
        elif case == "reopened-refixed":  # the first fix failed; the issue was reopened and fixed again
            github.close(repo, number, fix="closing-reference")
            github.reopen(repo, number)
            final = github.add_pull(repo, f"Really repair {part}", f"Fixes #{number}")
            github.cross_reference(repo, number, final)
            github.close(repo, number)
            truth[number] = (case, final)
        elif case == "no-evidence":
            github.close(repo, number)
            truth[number] = (case, None)
        elif case == "docs-then-code":  # a docs PR merged last, the code fix before it
            fix = github.add_pull(repo, f"Change {part}", f"Related to #{number}")
            github.cross_reference(repo, number, fix)
            docs = github.add_pull(repo, f"Describe {part}", f"See #{number}", files=("docs/usage.rst",))
            github.cross_reference(repo, number, docs)
            github.close(repo, number)
            truth[number] = (case, fix)
    return truth
