"""Raw GitHub JSON -> store record fields. Pure functions: no network, no store."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from enginebugs.mining.errors import MalformedResponse

ISSUE_KEYS = ("number", "html_url", "title", "state", "created_at", "updated_at")
PULL_KEYS = ("number", "html_url", "merged_at", "changed_files", "additions", "deletions")
_KEYWORD = r"(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)"
_REF = (r"(?:(?P<repo>[\w.-]+/[\w.-]+)?#(?P<num>\d+)"
        r"|https?://[^\s/]+/(?P<urlrepo>[\w.-]+/[\w.-]+)/issues/(?P<urlnum>\d+))")
CLOSING_RE = re.compile(rf"\b{_KEYWORD}\s*:?\s+{_REF}(?![\w/])", re.IGNORECASE)
REPO_NAME_RE = re.compile(r"^[\w.-]+/[\w.-]+$")
GITHUB_URL_RE = re.compile(r"^https?://[^/]+/(?P<repo>[\w.-]+/[\w.-]+)/(?P<kind>issues|pull)/(?P<number>\d+)")


# -- dates -----------------------------------------------------------------------------------
def parse_time(value: str) -> datetime:
    """An ISO-8601 GitHub timestamp (or a date) as an aware UTC datetime."""
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def iso(stamp: datetime) -> str:
    return stamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    return iso(datetime.now(timezone.utc))


def days_between(start: str, end: str) -> float:
    return (parse_time(end) - parse_time(start)) / timedelta(days=1)


def user_date(value: str, *, end_of_day: bool = False) -> str:
    """A command-line date (``2024-12-31`` or ISO time) as a GitHub timestamp; a bare ``--until`` date
    includes that whole day."""
    stamp = parse_time(value.strip())
    if end_of_day and len(value.strip()) == 10:
        stamp += timedelta(days=1, seconds=-1)
    return iso(stamp)


# -- validation ------------------------------------------------------------------------------
def require(obj: Any, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise MalformedResponse(f"{what}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise MalformedResponse(f"{what}: missing {', '.join(missing)}")
    return obj


def issue_list(data: Any, what: str) -> list[dict[str, Any]]:
    """Check a page of ``/issues`` before anything from it is used."""
    if not isinstance(data, list):
        raise MalformedResponse(f"{what}: expected a JSON list, got {type(data).__name__}")
    return [require(item, ISSUE_KEYS, f"{what}, item {i + 1}") for i, item in enumerate(data)]


def item_list(data: Any, what: str, key: str | None = None) -> list[dict[str, Any]]:
    """A list endpoint's items (``key`` for search results) as a list of objects."""
    if key is not None:
        data = require(data, (key,), what)[key]
    if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
        raise MalformedResponse(f"{what}: expected a list of objects")
    return data


# -- records ---------------------------------------------------------------------------------
def is_pull_request(raw: dict[str, Any]) -> bool:
    return bool(raw.get("pull_request"))


def issue_record(raw: dict[str, Any]) -> dict[str, Any]:
    """Store fields of one issue (or pull request) object from the issues API."""
    extra = {"state_reason": raw.get("state_reason"), "author": (raw.get("user") or {}).get("login")}
    return {
        "number": raw["number"],
        "kind": "pr" if is_pull_request(raw) else "issue",
        "title": raw["title"],
        "body": raw.get("body"),
        "state": raw["state"],
        "author_association": raw.get("author_association"),
        "labels": [label["name"] if isinstance(label, dict) else str(label) for label in raw.get("labels") or []],
        "comments_count": raw.get("comments"),
        "created_at": raw["created_at"],
        "updated_at": raw["updated_at"],
        "closed_at": raw.get("closed_at"),
        "extra": extra,
    }


def comment_entries(raw_comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"author": (c.get("user") or {}).get("login"), "author_association": c.get("author_association"),
         "created_at": c.get("created_at"), "body": c.get("body")}
        for c in raw_comments
    ]


NO_FIX = {"fix_url": None, "fix_number": None, "fix_merged_at": None, "fix_files_changed": None,
          "fix_additions": None, "fix_deletions": None}


def fix_fields(pull: dict[str, Any]) -> dict[str, Any]:
    """Fix-effort fields from a ``/pulls/N`` object."""
    return {"fix_url": pull["html_url"], "fix_number": pull["number"], "fix_merged_at": pull["merged_at"],
            "fix_files_changed": pull["changed_files"], "fix_additions": pull["additions"],
            "fix_deletions": pull["deletions"]}


def fix_details(pull: dict[str, Any], files: tuple[str, ...]) -> dict[str, Any]:
    """What the store keeps in ``extra`` about a fix: changed paths, merge commit, the PR's own labels."""
    return {"fix_files": list(files), "fix_merge_sha": pull.get("merge_commit_sha"),
            "fix_labels": [label["name"] if isinstance(label, dict) else str(label)
                           for label in pull.get("labels") or []]}


def time_to_fix(record: dict[str, Any]) -> tuple[float | None, str | None]:
    """(days, basis): created -> fix merged; else created -> closed unless closed as not planned."""
    if record.get("fix_merged_at"):
        return days_between(record["created_at"], record["fix_merged_at"]), "fix_merged"
    reason = (record.get("extra") or {}).get("state_reason")
    if record.get("closed_at") and reason != "not_planned":
        return days_between(record["created_at"], record["closed_at"]), "closed"
    return None, None


# -- references ------------------------------------------------------------------------------
def repo_of_url(url: str) -> str | None:
    match = GITHUB_URL_RE.match(url or "")
    return match.group("repo") if match else None


def closes(text: str | None, number: int, repo_names: tuple[str, ...]) -> bool:
    """Does ``text`` say "fixes/closes/resolves #N" (or owner/name#N, or the issue URL) for this issue?"""
    names = {n.lower() for n in repo_names}
    for match in CLOSING_RE.finditer(text or ""):
        repo = match.group("repo") or match.group("urlrepo")
        num = match.group("num") or match.group("urlnum")
        if int(num) == number and (repo is None or repo.lower() in names):
            return True
    return False
