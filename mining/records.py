"""Build a complete store record from an issue object: fields, fix linkage, time-to-fix, comments."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from enginebugs.mining import parse
from enginebugs.mining.client import GitHubClient, as_json
from enginebugs.mining.linkage import FixFinder
from enginebugs.taxonomy.store import Store


FIX_EXTRA = ("fix_method", "fix_evidence", "fix_confidence", "fix_files", "fix_merge_sha", "fix_labels")


@dataclass
class RecordBuilder:
    """Fetches what one issue needs beyond its list entry; ``finder=None`` skips fix linkage."""

    client: GitHubClient
    repo: str
    finder: FixFinder | None
    comments: bool = False

    def build(self, raw: dict[str, Any]) -> dict[str, Any]:
        record = parse.issue_record(raw)
        record.update(parse.NO_FIX)
        extra = record["extra"]
        if record["kind"] == "issue" and record["state"] == "closed" and self.finder is not None:
            link = self.finder.find(record["number"], record["closed_at"], extra.get("state_reason"))
            extra.update(self.finder.timeline_facts())
            if link:
                record.update(parse.fix_fields(link.pull))
                extra.update(fix_method=link.method, fix_evidence=link.evidence, fix_confidence=link.confidence,
                             **parse.fix_details(link.pull, link.files))
            else:
                extra.update({key: None for key in FIX_EXTRA})
        record["time_to_fix_days"], extra["time_to_fix_basis"] = parse.time_to_fix(record)
        if self.comments and record["comments_count"]:
            what = f"{self.repo}#{record['number']} comments"
            pages = self.client.pages(f"/repos/{self.repo}/issues/{record['number']}/comments", what=what)
            record["comments"] = parse.comment_entries(
                [c for page in pages for c in parse.item_list(page.data, f"{what} page {page.number}")])
        elif self.comments:
            record["comments"] = []
        record["hydrated_at"] = parse.now_iso()
        return record


    def listed_only(self, raw: dict[str, Any], reason: str) -> dict[str, Any]:
        """The fields the listing gave, marked with why the rest is missing; not hydrated, so the
        next sync tries again. Fix fields stored earlier are kept."""
        record = parse.issue_record(raw)
        record["extra"]["unreachable"] = reason
        record["hydrated_at"] = None
        return record


def merge_extra(existing: dict[str, Any] | None, record: dict[str, Any]) -> dict[str, Any]:
    """Keep keys other writers put into ``extra``; this record's keys win."""
    if existing and existing.get("extra"):
        record["extra"] = {**existing["extra"], **record.get("extra", {})}
        if record.get("hydrated_at"):  # complete now: an earlier failure no longer applies
            record["extra"].pop("unreachable", None)
    return record


def archive(store: Store, repo: str, entries: list[tuple[str, dict[str, str], Any]], fetched_at: str) -> None:
    """Append raw responses to ``raw_responses`` (call inside the transaction that uses them); a
    response identical to the last one archived for its URL (body and Link header) is not stored again."""
    for url, headers, data in entries:
        body, head = as_json(data), as_json(headers)
        last = store.conn.execute("SELECT body, headers FROM raw_responses WHERE url = ? ORDER BY id DESC LIMIT 1",
                                  (url,)).fetchone()
        if last is None or last["body"] != body or json.loads(last["headers"]).get("link") != headers.get("link"):
            store.conn.execute("INSERT INTO raw_responses (repo, url, fetched_at, body, headers) "
                               "VALUES (?, ?, ?, ?, ?)", (repo, url, fetched_at, body, head))
