"""Where a sync stands (table ``sync_state``): the incremental cursor and the checkpoint of a run in progress.

A sync lists issues with ``since=<cursor>&sort=updated&direction=asc``; the cursor is the
``updated_at`` of the last issue whose record is committed. Each page is committed together with
its checkpoint, so a run killed at any moment resumes from the last committed page: the overlap
(issues updated exactly at the cursor) is listed again and found unchanged, nothing is skipped.

Offset pagination has one more hole: an issue updated *during* the listing moves to the end and
shifts an unseen issue onto a page already fetched. :class:`Listing` notices such late updates and
makes the next sync start from before the first page that could have been shifted.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime

from enginebugs.mining import parse
from enginebugs.mining.presets import Rule
from enginebugs.taxonomy.store import Store


def sync_key(repo: str, rule: Rule, since: str | None, until: str | None) -> str:
    """``sync_state.repo``: the repository plus the selection it was synced with."""
    return f"{repo} " + json.dumps({**rule.fingerprint(), "since": since, "until": until}, sort_keys=True)


@dataclass
class Listing:
    """Progress of one (possibly resumed) listing of a repository."""

    cursor: str | None = None  # updated_at of the last committed issue
    started: str | None = None  # server time of the first page
    pages: list[tuple[str, str | None]] = field(default_factory=list)  # (fetched at, cursor before)
    late: str | None = None  # earliest updated_at later than `started`

    def page_fetched(self, headers: dict) -> None:
        fetched = _server_time(headers)
        self.started = self.started or fetched
        self.pages.append((fetched, self.cursor))

    def item_seen(self, updated_at: str) -> None:
        if self.cursor is None or updated_at > self.cursor:
            self.cursor = updated_at
        if self.started and updated_at >= self.started and (self.late is None or updated_at < self.late):
            self.late = updated_at

    def safe_cursor(self) -> str | None:
        """Where the next sync may start without a gap."""
        if self.late is None:
            return self.cursor
        bound = parse.iso(parse.parse_time(self.late) - timedelta(seconds=1))
        for fetched, before in self.pages:
            if fetched >= bound:
                return before
        return self.cursor


@dataclass
class SyncState:
    key: str
    last_synced_at: str | None  # the cursor after the last complete sync
    checkpoint: Listing | None  # a run that did not finish


def load(store: Store, key: str) -> SyncState:
    row = store.conn.execute("SELECT last_synced_at, checkpoint FROM sync_state WHERE repo = ?", (key,)).fetchone()
    if row is None:
        return SyncState(key, None, None)
    listing = None
    if row["checkpoint"]:
        data = json.loads(row["checkpoint"])
        listing = Listing(data["cursor"], data["started"], [tuple(p) for p in data["pages"]], data["late"])
    return SyncState(key, row["last_synced_at"], listing)


def save(store: Store, key: str, last_synced_at: str | None, listing: Listing | None) -> None:
    """Write the state (inside the transaction that commits the records it accounts for)."""
    store.conn.execute(
        "INSERT INTO sync_state (repo, last_synced_at, checkpoint, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(repo) DO UPDATE SET last_synced_at = excluded.last_synced_at, "
        "checkpoint = excluded.checkpoint, updated_at = excluded.updated_at",
        (key, last_synced_at, json.dumps(asdict(listing)) if listing else None, parse.now_iso()),
    )


def _server_time(headers: dict) -> str:
    try:
        return parse.iso(parsedate_to_datetime(str(headers["date"])))
    except (KeyError, TypeError, ValueError):
        return parse.now_iso()
