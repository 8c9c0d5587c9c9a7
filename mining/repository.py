"""Resolve a repository before mining it: GitHub's id and current owner/name, renames recorded.

A renamed or transferred repository answers its former name with a 301 to ``/repositories/ID``.
Following that for a listing would drop the query (state, labels, since, ...), so the miner asks
for the repository object first (no query: the redirect is harmless there) and then uses the
current name for every request. Each spelling is kept in ``repo_names``; records mined under a
former name move to the current one.
"""
from __future__ import annotations

from dataclasses import dataclass

from enginebugs.mining import parse
from enginebugs.mining.client import GitHubClient
from enginebugs.mining.errors import MalformedResponse
from enginebugs.taxonomy.store import Store


@dataclass(frozen=True)
class Resolved:
    requested: str
    name: str  # current owner/name
    github_id: int | None

    @property
    def renamed(self) -> bool:
        return self.requested.lower() != self.name.lower()


def resolve(client: GitHubClient, repo: str) -> Resolved:
    what = f"{repo} repository"
    data = parse.require(client.get(f"/repos/{repo}", what=what).data, ("full_name",), what)
    if not parse.REPO_NAME_RE.match(str(data["full_name"])):
        raise MalformedResponse(f"{what}: full_name {data['full_name']!r} is not owner/name")
    return Resolved(repo, data["full_name"], data.get("id"))


def record(store: Store, resolved: Resolved) -> int:
    """Remember the names (inside a transaction); returns how many records moved to the current name."""
    now = parse.now_iso()
    for name in {resolved.requested, resolved.name}:
        store.conn.execute(
            "INSERT INTO repo_names (name, canonical, github_id, resolved_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET canonical = excluded.canonical, github_id = excluded.github_id, "
            "resolved_at = excluded.resolved_at", (name, resolved.name, resolved.github_id, now))
    if not resolved.renamed:
        return 0
    old, new = resolved.requested, resolved.name
    return store.conn.execute(
        "UPDATE OR IGNORE records SET repo = ?, collection = ?, "
        "url = ? || substr(url, length(?) + 1) "
        "WHERE collection = ? COLLATE NOCASE AND lower(substr(url, 1, length(?))) = lower(?)",
        (new, f"mined:{new}", f"https://github.com/{new}/", f"https://github.com/{old}/", f"mined:{old}",
         f"https://github.com/{old}/", f"https://github.com/{old}/")).rowcount


def former_names(store: Store, canonical: str) -> tuple[str, ...]:
    """Every other spelling recorded for this repository."""
    rows = store.conn.execute("SELECT name FROM repo_names WHERE canonical = ? COLLATE NOCASE AND name != ? "
                              "COLLATE NOCASE ORDER BY name", (canonical, canonical))
    return tuple(r[0] for r in rows)
