"""``mine hydrate``: complete records that have only a URL (e.g. the paper's imported bugs)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from enginebugs.mining import parse, repository
from enginebugs.mining.client import GitHubClient
from enginebugs.mining.errors import MalformedResponse, Moved, NotFound
from enginebugs.mining.linkage import FixFinder
from enginebugs.mining.presets import Presets, load_presets
from enginebugs.mining.progress import Reporter, rate_line
from enginebugs.mining.records import RecordBuilder, archive, merge_extra
from enginebugs.taxonomy.store import Store


@dataclass
class HydrateSummary:
    hydrated: int = 0
    unreachable: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)
    requests: int = 0

    def line(self) -> str:
        return f"hydrated {self.hydrated} records, {len(self.unreachable)} unreachable, {self.requests} requests"


class Hydrator:
    """Fetch each record whose ``hydrated_at`` is empty; 404/410 and malformed answers are skipped, not retried."""

    def __init__(self, store: Store, client: GitHubClient, *, presets: Presets | None = None,
                 comments: bool = False, link_fixes: bool = True, fix_search: bool = True,
                 limit: int | None = None, engine: str | None = None, reporter: Reporter | None = None):
        self.store, self.client = store, client
        self.presets = presets or load_presets()
        self.comments, self.link_fixes, self.fix_search = comments, link_fixes, fix_search
        self.limit, self.engine = limit, engine
        self.reporter = reporter or client.reporter
        self._builders: dict[str, RecordBuilder] = {}
        self._renamed: dict[str, str] = {}  # former name -> current name, learnt from 301s

    def pending(self) -> list[dict]:
        records = list(self.store.records(engine=self.engine, where="hydrated_at IS NULL AND kind IN ('issue', 'pr')"
                                          " AND number IS NOT NULL"))
        return records[: self.limit] if self.limit else records

    def run(self) -> HydrateSummary:
        summary = HydrateSummary()
        first_request = self.client.requests_used
        todo, started = self.pending(), time.monotonic()
        with self.reporter.progress() as bars:
            task = bars.add_task("hydrating records", total=len(todo))
            for record in todo:
                reason = self._hydrate(record)
                if reason:
                    summary.unreachable.append((record["url"], reason))
                else:
                    summary.hydrated += 1
                bars.advance(task)
                done = summary.hydrated + len(summary.unreachable)
                self.reporter.heartbeat(lambda: f"{rate_line(done, len(todo), started, 'records')}; "
                                                f"{len(summary.unreachable)} unreachable; {self.client.quota_line()}")
        summary.requests = self.client.requests_used - first_request
        return summary

    def _builder(self, repo: str) -> RecordBuilder:
        if repo not in self._builders:
            names = tuple(dict.fromkeys((*self.presets.names_of(repo), *repository.former_names(self.store, repo))))
            finder = FixFinder(self.client, repo, names, search=self.fix_search)
            self._builders[repo] = RecordBuilder(self.client, repo, finder if self.link_fixes else None, self.comments)
        return self._builders[repo]

    def _current_name(self, repo: str) -> str:
        """The repository's name now, asked once per run of a repository that answered with a 301."""
        if repo not in self._renamed:
            resolved = repository.resolve(self.client, repo)
            with self.store.transaction():
                repository.record(self.store, resolved)
            self._renamed[repo] = resolved.name
            self.reporter.note(f"{repo} is now {resolved.name} (renamed or transferred)")
        return self._renamed[repo]

    def _hydrate(self, stored: dict) -> str | None:
        """Fetch and write one record; returns why it could not be, or None."""
        repo = self.presets.canonical_repo(stored["repo"])
        repo = self._renamed.get(repo, repo)
        what = f"{repo}#{stored['number']}"
        self.client.drain()
        try:
            try:
                raw = parse.require(self.client.get(f"/repos/{repo}/issues/{stored['number']}", what=what).data,
                                    parse.ISSUE_KEYS, what)
                record = self._builder(repo).build(raw)
            except Moved:  # renamed since the record was made: once more under the current name
                if self._current_name(repo).lower() == repo.lower():
                    return "redirected, but GitHub names the repository as before"
                return self._hydrate(stored)
        except NotFound:
            return "not found"
        except MalformedResponse as exc:
            return str(exc)
        record.update(url=stored["url"], engine=stored["engine"], repo=repo)
        if raw["html_url"] != stored["url"]:
            record["extra"]["html_url"] = raw["html_url"]
        with self.store.transaction():
            archive(self.store, repo, self.client.drain(), parse.now_iso())
            self.store.upsert_record(merge_extra(stored, record))
        return None
