"""Rebuild a store from another store's raw-response archive, without the network (Perceval's
``--from-archive``), and keep the archive small.

``ArchiveClient`` answers every GET with the newest archived response for that URL; the miner runs
unchanged on top of it, so a replay makes the same records the live syncs made. Each archived sync
(a ``sync_state`` row: repository + selection) is replayed from its first listing, then again from
each later cursor as long as the archive holds that listing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from enginebugs.mining.client import ClientSettings, GitHubClient, Response, _display_url, graphql_key
from enginebugs.mining.errors import NotFound
from enginebugs.mining.miner import Miner, SyncSummary
from enginebugs.mining.presets import Presets, Rule, load_presets
from enginebugs.mining.progress import Reporter
from enginebugs.taxonomy.store import Store


class ArchiveClient(GitHubClient):
    """A GitHubClient whose every answer comes from ``archive``'s ``raw_responses``; a URL it lacks is a 404."""

    def __init__(self, archive: Store, reporter: Reporter | None = None):
        super().__init__([], ClientSettings(), reporter)
        self.archive = archive
        self.missing: list[str] = []

    def get(self, url: str, params: dict[str, Any] | None = None, *, what: str) -> Response:
        shown = _display_url(url, params)
        if shown in self.prefetched:
            return Response(shown, {}, self.prefetched.pop(shown))
        return self._archived(shown, what)

    def graphql(self, query: str, variables: dict[str, Any], *, what: str) -> Response:
        return self._archived(graphql_key(query, variables), what)

    def _archived(self, shown: str, what: str) -> Response:
        self.requests_used += 1
        row = self.archive.conn.execute("SELECT headers, body FROM raw_responses WHERE url = ? ORDER BY id DESC "
                                        "LIMIT 1", (shown,)).fetchone()
        if row is None:
            self.missing.append(shown)
            raise NotFound(f"{what}: not in the archive ({shown})", 404)
        headers, data = json.loads(row["headers"]), json.loads(row["body"])
        self.journal.append((shown, headers, data))
        return Response(shown, headers, data)


@dataclass
class ReplaySummary:
    syncs: list[SyncSummary] = field(default_factory=list)

    def line(self) -> str:
        new = sum(s.new for s in self.syncs)
        updated = sum(s.updated + s.left for s in self.syncs)
        return f"replayed {len(self.syncs)} sync(s) from the archive: {new} new, {updated} updated records"


# Sync options the archive shows: a live sync asked for these URLs only when the option was on.
REPLAYED_OPTIONS = {
    "comments": ("/repos/{repo}/issues/%/comments%",),
    "link_fixes": ("/repos/{repo}/issues/%/timeline%", "/graphql?name={name}&owner={owner}&query=%"),
    "fix_search": ("/search/%repo%3A{quoted}%",),
    "graphql": ("/graphql?after=%&name={name}&owner={owner}&%",),
}


def _archived(archive: Store, patterns: tuple[str, ...], repo: str) -> bool:
    owner, name = (quote(part) for part in repo.split("/"))
    return any(archive.conn.execute("SELECT 1 FROM raw_responses WHERE url LIKE ? LIMIT 1", (pattern.format(
        repo=repo, quoted=quote(repo, safe=""), owner=owner, name=name),)).fetchone() for pattern in patterns)


def archived_syncs(archive: Store) -> list[tuple[str, Rule, str | None, str | None]]:
    """(repository, rule, since, until) of every sync the archive's store recorded."""
    syncs = []
    for row in archive.conn.execute("SELECT repo FROM sync_state ORDER BY rowid"):
        repo, _, key = row["repo"].partition(" ")
        spec = json.loads(key)
        rule = Rule(labels=tuple(spec["labels"]), state=spec["state"], keywords=tuple(spec["keywords"]),
                    include_prs=spec["prs"])
        syncs.append((repo, rule, spec.get("since"), spec.get("until")))
    return syncs


def replay(archive: Store, store: Store, *, presets: Presets | None = None,
           reporter: Reporter | None = None) -> ReplaySummary:
    presets = presets or load_presets()
    client = ArchiveClient(archive, reporter or Reporter(quiet=True))
    summary = ReplaySummary()
    listings = archive.conn.execute("SELECT COUNT(DISTINCT url) FROM raw_responses WHERE url LIKE '%/issues?%' "
                                    "OR url LIKE '/graphql?after=%'").fetchone()[0]
    for repo, rule, since, until in archived_syncs(archive):
        target = presets.resolve(repo).with_rule(labels=rule.labels, state=rule.state, keywords=rule.keywords,
                                                 include_prs=rule.include_prs)
        options = {option: _archived(archive, patterns, target.repo) for option, patterns in REPLAYED_OPTIONS.items()}
        cursor = object()
        for _ in range(listings):
            miner = Miner(target, store=store, client=client, since=since, until=until, presets=presets,
                          fallback=False, **options)
            missing = len(client.missing)
            try:
                result = miner.sync()
            except NotFound:
                if len(client.missing) > missing and ("/issues?" in client.missing[-1]
                                                      or client.missing[-1].startswith("/graphql?after=")):
                    break  # no later listing was archived: this sync is complete
                raise
            summary.syncs.append(result)
            now = store.conn.execute("SELECT last_synced_at FROM sync_state WHERE repo = ?", (miner.key,)).fetchone()
            if now is None or now[0] == cursor:
                break
            cursor = now[0]
    return summary


def prune(store: Store, keep: int = 1) -> int:
    """Delete all but the newest ``keep`` archived responses of each URL; returns how many went."""
    with store.transaction():
        gone = store.conn.execute(
            "DELETE FROM raw_responses WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER "
            "(PARTITION BY url ORDER BY id DESC) AS age FROM raw_responses) WHERE age > ?)", (keep,)).rowcount
    store.conn.execute("VACUUM")
    return gone
