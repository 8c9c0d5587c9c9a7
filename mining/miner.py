"""The miner: ``Miner("vllm", store=store, client=client, since="2025-01-01").sync()``.

Lists a repository's issues with the target's bug rule, oldest update first, and stores each new
or changed one with its fix linkage. One transaction per page: the page's records, its raw
responses and the checkpoint are committed together, so an interrupted run loses at most the page
in flight and the next run resumes from the checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from enginebugs.mining import checkpoint, parse
from enginebugs.mining.client import GitHubClient
from enginebugs.mining.linkage import FixFinder
from enginebugs.mining.presets import Presets, Target, load_presets
from enginebugs.mining.progress import Reporter
from enginebugs.mining.records import RecordBuilder, archive, merge_extra
from enginebugs.taxonomy.store import Store


@dataclass
class SyncSummary:
    repo: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    requests: int = 0
    complete: bool = False
    resumed: bool = False

    def line(self) -> str:
        tail = "" if self.complete else " (stopped early: rerun to continue)"
        return (f"{self.repo}: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.skipped} skipped, {self.requests} requests{tail}")


class Miner:
    """Incremental, resumable sync of one repository into the store.

    ``target`` is a preset name, an owner/name or a :class:`Target`; ``labels``/``state``/
    ``keywords``/``include_prs`` override its rule. ``since``/``until`` bound the issues' creation
    dates; ``limit`` stops after that many new or updated records (a later run continues).
    """

    def __init__(self, target: Target | str, *, store: Store, client: GitHubClient,
                 since: str | None = None, until: str | None = None, labels: list[str] | None = None,
                 state: str | None = None, keywords: list[str] | None = None, include_prs: bool | None = None,
                 comments: bool = False, limit: int | None = None, link_fixes: bool = True,
                 fix_search: bool = True, presets: Presets | None = None, reporter: Reporter | None = None):
        if isinstance(target, str):
            target = (presets or load_presets()).resolve(target)
        self.target = target.with_rule(labels=None if labels is None else tuple(labels), state=state,
                                       keywords=None if keywords is None else tuple(keywords),
                                       include_prs=include_prs)
        self.store, self.client = store, client
        self.since = parse.user_date(since) if since else None
        self.until = parse.user_date(until, end_of_day=True) if until else None
        self.limit, self.comments = limit, comments
        self.reporter = reporter or client.reporter
        repo = self.target.repo
        finder = FixFinder(client, repo, self.target.names, search=fix_search) if link_fixes else None
        self.builder = RecordBuilder(client, repo, finder, comments)
        self.key = checkpoint.sync_key(repo, self.target.rule, self.since, self.until)

    @property
    def repo(self) -> str:
        return self.target.repo

    def sync(self) -> SyncSummary:
        state = checkpoint.load(self.store, self.key)
        listing = state.checkpoint or checkpoint.Listing(cursor=state.last_synced_at)
        summary = SyncSummary(self.repo, resumed=state.checkpoint is not None)
        if summary.resumed:
            self.reporter.note(f"{self.repo}: resuming an interrupted sync at issues updated {listing.cursor}")
        first_request = self.client.requests_used
        self.client.drain()
        with self.reporter.progress() as bars:
            task = bars.add_task(f"{self.repo}: listing issues", total=None)
            stopped = False
            for page in self.client.pages(f"/repos/{self.repo}/issues", self._params(listing.cursor),
                                          what=f"{self.repo} issues"):
                items = parse.issue_list(page.data, f"{self.repo} issues page {page.number}")
                listing.page_fetched(page.headers)
                records = []
                for raw in items:
                    if self.limit is not None and summary.new + summary.updated >= self.limit:
                        stopped = True
                        break
                    outcome, record = self._prepare(raw)
                    setattr(summary, outcome, getattr(summary, outcome) + 1)
                    if record is not None:
                        records.append(record)
                    listing.item_seen(raw["updated_at"])
                self._commit(records, state.last_synced_at, listing)
                bars.update(task, completed=page.number, total=page.last or page.number,
                            description=f"{self.repo}: page {page.number}, {summary.new} new, "
                                        f"{summary.updated} updated")
                if stopped:
                    break
            if not stopped:
                with self.store.transaction():
                    checkpoint.save(self.store, self.key, listing.safe_cursor() or state.last_synced_at, None)
                summary.complete = True
        summary.requests = self.client.requests_used - first_request
        return summary

    def _params(self, cursor: str | None) -> dict[str, Any]:
        rule = self.target.rule
        params: dict[str, Any] = {"state": rule.state, "sort": "updated", "direction": "asc"}
        if rule.labels:
            params["labels"] = ",".join(rule.labels)
        lower = max(filter(None, (self.since, cursor)), default=None)
        if lower:
            params["since"] = lower
        return params

    def _prepare(self, raw: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """(outcome, record to write): outcome is new, updated, unchanged or skipped."""
        rule = self.target.rule
        created = raw["created_at"]
        if ((parse.is_pull_request(raw) and not rule.include_prs)
                or (self.since and created < self.since) or (self.until and created > self.until)
                or not rule.matches_text(raw["title"], raw.get("body"))):
            return "skipped", None
        existing = self.store.get_record(raw["html_url"])
        if (existing and existing["updated_at"] == raw["updated_at"] and existing["hydrated_at"]
                and (not self.comments or existing["comments"] is not None)):
            return "unchanged", None
        record = self.builder.build(raw)
        record.update(url=raw["html_url"], engine=self.target.engine, repo=self.repo, collection=f"mined:{self.repo}")
        return ("updated" if existing else "new"), merge_extra(existing, record)

    def _commit(self, records: list[dict[str, Any]], last_synced_at: str | None,
                listing: checkpoint.Listing) -> None:
        """One page: raw responses, records and checkpoint, all or nothing."""
        with self.store.transaction():
            archive(self.store, self.repo, self.client.drain(), parse.now_iso())
            for record in records:
                self.store.upsert_record(record)
            checkpoint.save(self.store, self.key, last_synced_at, listing)
