"""The miner: ``Miner("vllm", store=store, client=client, since="2025-01-01").sync()``.

Lists a repository's issues with the target's bug rule, oldest update first, and stores each new
or changed one with its fix linkage. One transaction per page: the page's records, its raw
responses and the checkpoint are committed together, so an interrupted run loses at most the page
in flight and the next run resumes from the checkpoint.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from enginebugs.mining import checkpoint, history, parse, repository
from enginebugs.mining.client import PER_PAGE, GitHubClient, Page
from enginebugs.mining.errors import MalformedResponse, MineError, NotFound
from enginebugs.mining.graphql import GraphQLLister
from enginebugs.mining.linkage import FixFinder
from enginebugs.mining.presets import Presets, Target, load_presets
from enginebugs.mining.progress import Reporter, rate_line
from enginebugs.mining.records import RecordBuilder, archive, merge_extra
from enginebugs.taxonomy.store import Store


@dataclass
class SyncSummary:
    repo: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    left: int = 0  # stored records that no longer match the rule upstream (reopened, relabelled)
    unreachable: int = 0  # stored from the listing only: details gone (404/410) or malformed after retries
    requests: int = 0
    complete: bool = False
    resumed: bool = False
    problems: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)
    former: str | None = None  # the name asked for, when GitHub knows the repository by another now

    def line(self) -> str:
        tail = "" if self.complete else " (stopped early: rerun to continue)"
        unreachable = (f", {self.left} left the selection" if self.left else "") + (
            f", {self.unreachable} unreachable" if self.unreachable else "")
        former = f" (formerly {self.former})" if self.former else ""
        return (f"{self.repo}{former}: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.skipped} skipped{unreachable}, {self.requests} requests{tail}")


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
                 fix_search: bool = True, presets: Presets | None = None, reporter: Reporter | None = None,
                 graphql: bool = False, fallback: bool = True):
        if isinstance(target, str):
            target = (presets or load_presets()).resolve(target)
        self.target = target.with_rule(labels=None if labels is None else tuple(labels), state=state,
                                       keywords=None if keywords is None else tuple(keywords),
                                       include_prs=include_prs)
        self.store, self.client = store, client
        self.since = parse.user_date(since) if since else None
        self.until = parse.user_date(until, end_of_day=True) if until else None
        self.limit, self.comments = limit, comments
        self.link_fixes, self.fix_search = link_fixes, fix_search
        self.graphql = graphql and not self.target.rule.include_prs  # GraphQL's issues are issues only
        self.fallback = fallback  # to REST when GraphQL fails
        self.reporter = reporter or client.reporter
        self._use(self.target.repo, ())

    def _use(self, repo: str, former: tuple[str, ...]) -> None:
        """Mine ``repo`` (the current name), recognising references to any of its names."""
        self.target = replace(self.target, repo=repo,
                              former_names=tuple(dict.fromkeys(n for n in (*self.target.names, *former)
                                                               if n.lower() != repo.lower())))
        finder = (FixFinder(self.client, repo, self.target.names, search=self.fix_search,
                            search_pulls=not self.graphql) if self.link_fixes else None)
        self.builder = RecordBuilder(self.client, repo, finder, self.comments)
        self.key = checkpoint.sync_key(repo, self.target.rule, self.since, self.until)

    @property
    def repo(self) -> str:
        return self.target.repo

    def resolve(self) -> repository.Resolved:
        """Ask GitHub for the repository's current name (1 request) and mine that from now on."""
        resolved = repository.resolve(self.client, self.repo)
        with self.store.transaction():
            moved = repository.record(self.store, resolved)
        if resolved.renamed:
            self.reporter.note(f"{resolved.requested} is now {resolved.name} (renamed or transferred): "
                               f"mining {resolved.name}" + (f"; {moved} stored records moved to it" if moved else ""))
        self._use(resolved.name, repository.former_names(self.store, resolved.name))
        return resolved

    def sync(self) -> SyncSummary:
        first_request = self.client.requests_used
        self.client.drain()
        resolved = self.resolve()
        state = checkpoint.load(self.store, self.key)
        listing = state.checkpoint or checkpoint.Listing(cursor=state.last_synced_at)
        summary = SyncSummary(self.repo, resumed=state.checkpoint is not None,
                              former=resolved.requested if resolved.renamed else None)
        if summary.resumed:
            self.reporter.note(f"{self.repo}: resuming an interrupted sync at issues updated {listing.cursor}")
        started, seen, pages = time.monotonic(), 0, [0, 0, 0]  # page, last page, estimated issue count

        def progress() -> str:
            return (f"{self.repo}: page {pages[0]}/{pages[1]}, {rate_line(seen, pages[2], started)}; "
                    f"{summary.new} new, {summary.updated} updated, {summary.unreachable} unreachable; "
                    f"{self.client.requests_used - first_request} requests, {self.client.quota_line()}")

        with self.reporter.progress() as bars:
            task = bars.add_task(f"{self.repo}: listing issues", total=None)
            stopped = False
            for page in self._listing(self._params(listing.cursor, state.last_synced_at is not None)):
                items = parse.issue_list(page.data, f"{self.repo} issues page {page.number}")
                listing.page_fetched(page.headers)
                last = max(page.last or page.number, pages[1])
                pages[:] = [page.number, last, (last - 1) * PER_PAGE + len(items) if page.number == last
                            else last * PER_PAGE]
                records = []
                for raw in items:
                    if self.limit is not None and summary.new + summary.updated >= self.limit:
                        stopped = True
                        break
                    outcome, record = self._prepare(raw)
                    setattr(summary, outcome, getattr(summary, outcome) + 1)
                    if record is not None:
                        records.append(record)
                        if outcome == "unreachable":
                            summary.problems.append((raw["html_url"], record["extra"]["unreachable"]))
                    listing.item_seen(raw["updated_at"])
                    seen += 1
                    self.reporter.heartbeat(progress)
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
                self._retry_unreachable(summary)
        summary.requests = self.client.requests_used - first_request
        return summary

    def _retry_unreachable(self, summary: SyncSummary) -> None:
        """Fetch again each record an earlier run could store only from the listing; one commit each."""
        pending = list(self.store.records(where="collection = ? AND hydrated_at IS NULL AND "
                                                "json_extract(extra, '$.unreachable') IS NOT NULL",
                                          params=(f"mined:{self.repo}",)))
        for stored in pending:
            if stored["url"] in {url for url, _ in summary.problems}:
                continue  # failed in this very run
            what = f"{self.repo}#{stored['number']}"
            self.client.drain()
            try:
                raw = parse.require(self.client.get(f"/repos/{self.repo}/issues/{stored['number']}", what=what).data,
                                    parse.ISSUE_KEYS, what)
                record = self.builder.build(raw)
            except (NotFound, MalformedResponse) as exc:
                summary.problems.append((stored["url"], self.client.redact(str(exc))))
                summary.unreachable += 1
                continue
            record.update(url=stored["url"], engine=self.target.engine, repo=self.repo)
            with self.store.transaction():
                archive(self.store, self.repo, self.client.drain(), parse.now_iso())
                self.store.upsert_record(merge_extra(stored, record))
            summary.updated += 1

    def _listing(self, params: dict[str, Any]) -> Iterator[Page]:
        """Pages of the issue listing: GraphQL when asked for and available, else REST."""
        if self.graphql:
            labels = tuple(params["labels"].split(",")) if "labels" in params else ()
            pages = GraphQLLister(self.client, self.repo, self.link_fixes).pages(params["state"], labels,
                                                                                 params.get("since"))
            try:
                first = next(pages, None)
            except MineError as exc:  # e.g. a GitHub Enterprise without GraphQL
                if not self.fallback:
                    raise
                self.reporter.note(f"{self.repo}: GraphQL not usable ({exc}): listing through REST")
                self.graphql = False
                if self.builder.finder:
                    self.builder.finder.search_pulls = True
            else:
                if first is not None:
                    yield first
                    yield from pages
                return
        yield from self.client.pages(f"/repos/{self.repo}/issues", params, what=f"{self.repo} issues")

    def _params(self, cursor: str | None, incremental: bool) -> dict[str, Any]:
        """The listing's query: the rule's state and labels on a first sync; on a later one everything
        updated since, so that issues which left the selection (reopened, relabelled) are seen too."""
        rule = self.target.rule
        params: dict[str, Any] = {"state": "all" if incremental else rule.state, "sort": "updated", "direction": "asc"}
        if rule.labels and not incremental:
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
                or (self.since and created < self.since) or (self.until and created > self.until)):
            return "skipped", None
        existing = self.store.get_record(raw["html_url"])
        labels = [label["name"] if isinstance(label, dict) else str(label) for label in raw.get("labels") or []]
        if not rule.selects(raw["state"], labels, raw["title"], raw.get("body")):
            if (existing is None or existing["collection"] != f"mined:{self.repo}"
                    or existing["updated_at"] == raw["updated_at"]):
                return "skipped", None
            record = history.left_selection(existing, parse.issue_record(raw))  # reopened, relabelled
            record.update(url=raw["html_url"], engine=existing["engine"], repo=existing["repo"])
            return "left", merge_extra(existing, record)
        if (existing and existing["updated_at"] == raw["updated_at"] and existing["hydrated_at"]
                and (not self.comments or existing["comments"] is not None)):
            return "unchanged", None
        outcome = "updated" if existing else "new"
        try:
            record = self.builder.build(raw)
        except (NotFound, MalformedResponse) as exc:  # deleted mid-run, or a body that never parsed
            record, outcome = self.builder.listed_only(raw, self.client.redact(str(exc))), "unreachable"
        record.update(url=raw["html_url"], engine=self.target.engine, repo=self.repo, collection=f"mined:{self.repo}")
        return outcome, merge_extra(existing, history.selected(existing, record))

    def _commit(self, records: list[dict[str, Any]], last_synced_at: str | None,
                listing: checkpoint.Listing) -> None:
        """One page: raw responses, records and checkpoint, all or nothing."""
        with self.store.transaction():
            archive(self.store, self.repo, self.client.drain(), parse.now_iso())
            for record in records:
                self.store.upsert_record(record)
            checkpoint.save(self.store, self.key, last_synced_at, listing)
