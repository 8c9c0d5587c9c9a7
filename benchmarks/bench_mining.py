"""Requests the miner spends, counted by the local fake GitHub server (real PyGithub client over HTTP).

Goals: listing N issues costs at most 1.05 x ceil(N/100) list requests; a second sync with no
upstream change costs at most 2 requests per repository; hydrating the paper's 929 URLs against a
server that knows 5 of them does not wait or retry on 404; fix linkage on the fake's hard categories
(populate_linkage: not-planned closures with PRs, docs-only mentions, follow-up test PRs, reopened
and refixed issues, ...) has precision >= 0.97 and recall >= 0.95.
"""
from __future__ import annotations

import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from enginebugs.mining.client import ClientSettings, GitHubClient
from enginebugs.mining.hydrate import Hydrator
from enginebugs.mining.miner import Miner
from enginebugs.mining.paper_dataset import import_into, parse, read_text, shipped_dataset
from enginebugs.mining.progress import Reporter
from enginebugs.taxonomy.store import Store
from tests.github_fake import LINKAGE_CASES, FakeGitHub, FakeServer, populate, populate_linkage

ROOT = Path(__file__).resolve().parents[1]
REPO = "vllm-project/vllm"


def _client(server: FakeServer) -> GitHubClient:
    return GitHubClient(["bench-token"], ClientSettings(api_url=server.url), Reporter(quiet=True))


def _kind(path: str) -> str:
    if path.startswith("/search/"):
        return "search"
    if "/commits/" in path:
        return "commit->pulls"
    tail = path.rsplit("/", 2)
    return "list" if path.endswith("/issues") else tail[-1] if not tail[-1].isdigit() else tail[-2]


def listing_cost(sizes=(100, 250, 1000, 5000)) -> None:
    print("listing (--no-fixes): N issues -> list requests, goal <= 1.05 x ceil(N/100)")
    for n in sizes:
        github = FakeGitHub(seed=n)
        populate(github, REPO, n, noise=False)
        with tempfile.TemporaryDirectory() as tmp, FakeServer(github) as server, Store.open(Path(tmp, "b.db")) as store:
            start = time.perf_counter()
            summary = Miner("vllm", store=store, client=_client(server), link_fixes=False).sync()
            seconds = time.perf_counter() - start
            lists = server.count(r"/issues$")
            again = Miner("vllm", store=store, client=_client(server), link_fixes=False).sync()
        budget = 1.05 * math.ceil(n / 100)
        print(f"  N={n:>5}: {lists:>3} list requests ({lists / math.ceil(n / 100):.2f} x ceil(N/100), "
              f"{'OK' if lists <= budget else 'OVER'}), {100 * lists / n:.2f} per 100 issues, "
              f"{summary.new} stored in {seconds:.2f} s; no-change resync: {again.requests} request(s)")


def full_sync_cost(n: int = 300) -> None:
    github = FakeGitHub(seed=1)
    populate(github, REPO, n)
    with tempfile.TemporaryDirectory() as tmp, FakeServer(github) as server, Store.open(Path(tmp, "b.db")) as store:
        start = time.perf_counter()
        summary = Miner("vllm", store=store, client=_client(server)).sync()
        seconds = time.perf_counter() - start
        kinds = Counter(_kind(e.path) for e in server.log)
        requests = len(server.log)
        github.edit_issue(REPO, next(iter(github.repo(REPO).issues)), title="edited")
        edited = Miner("vllm", store=store, client=_client(server)).sync()
        unchanged = Miner("vllm", store=store, client=_client(server)).sync()
    stored = summary.new
    print(f"full sync with fix linkage: {stored} bugs stored, {requests} requests "
          f"({100 * requests / stored:.0f} per 100 bugs) in {seconds:.2f} s "
          f"({1000 * seconds / requests:.1f} ms/request)")
    print("  by endpoint: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    print(f"  resync after one upstream edit: {edited.requests} requests ({edited.updated} updated); "
          f"no-change resync: {unchanged.requests} request(s) per repository (goal <= 2)")


def hydrate_cost() -> None:
    bugs = parse(read_text(str(shipped_dataset())))
    github = FakeGitHub(seed=2)
    for bug in bugs[:: len(bugs) // 5][:5]:
        github.add_issue(bug.repo, "Synthetic paper bug", "Synthetic body.", number=bug.number)
        github.repo(bug.repo).next_number = 10**6
        github.close(bug.repo, bug.number, fix="closing-commit")
    with tempfile.TemporaryDirectory() as tmp, FakeServer(github) as server, Store.open(Path(tmp, "p.db")) as store:
        import_into(store, bugs)
        start = time.perf_counter()
        summary = Hydrator(store, _client(server)).run()
        seconds = time.perf_counter() - start
    print(f"hydrate {len(bugs)} paper URLs, server knows 5: {summary.line()} in {seconds:.2f} s "
          f"({1000 * seconds / len(bugs):.1f} ms per URL)")


def linkage_quality(per_case: int = 20) -> None:
    """Precision = right links / links made; recall = right links / issues that have a true fix."""
    github = FakeGitHub(seed=7)
    truth = populate_linkage(github, REPO, per_case)
    with tempfile.TemporaryDirectory() as tmp, FakeServer(github) as server, Store.open(Path(tmp, "l.db")) as store:
        summary = Miner(REPO, store=store, client=_client(server)).sync()
        found = {r["number"]: r["fix_number"] for r in store.records()}
        requests = len(server.log)
    made = [n for n, pull in found.items() if pull is not None]
    right = [n for n in made if found[n] == truth[n][1]]
    fixed = [n for n, (_, pull) in truth.items() if pull is not None]
    precision, recall = len(right) / len(made), len(right) / len(fixed)
    print(f"fix linkage, {len(truth)} closed bugs in {len(LINKAGE_CASES)} categories ({summary.new} stored): "
          f"precision {precision:.3f} ({len(right)}/{len(made)}), recall {recall:.3f} ({len(right)}/{len(fixed)}) "
          f"[goal >= 0.97 / >= 0.95]; {requests / len(truth):.2f} requests per bug")
    wrong = Counter(truth[n][0] for n in set(made) - set(right)) + Counter(
        truth[n][0] for n in fixed if found.get(n) is None)
    if wrong:
        print("  wrong or missed by category: " + ", ".join(f"{k} {v}" for k, v in wrong.most_common()))


def request_economy(n: int = 500) -> None:
    """Full sync with linkage, REST vs GraphQL: requests per bug, and the time GitHub's limits would impose
    (search 30 a minute, core and GraphQL 5000 an hour) on top of the measured time."""
    github = FakeGitHub(seed=3)
    populate(github, REPO, n)
    print(f"full sync of {n} bugs with fix linkage (limits: search 30/min, core and GraphQL 5000/h):")
    for label, graphql, search in (("REST", False, True), ("GraphQL", True, True), ("GraphQL, no search", True, False)):
        with tempfile.TemporaryDirectory() as tmp, FakeServer(github) as server, \
                Store.open(Path(tmp, "e.db")) as store:
            start = time.perf_counter()
            summary = Miner("vllm", store=store, client=_client(server), graphql=graphql, fix_search=search).sync()
            seconds = time.perf_counter() - start
            kinds = Counter("search" if e.path.startswith("/search/") else "graphql" if e.path == "/graphql"
                            else "core" for e in server.log)
            linked = sum(1 for r in store.records() if r["fix_url"])
        floor = max(kinds["search"] / 30, (kinds["core"] + kinds["graphql"]) / (5000 / 60)) * 60
        stored = summary.new
        print(f"  {label:<18} {sum(kinds.values()):>5} requests ({sum(kinds.values()) / stored:.2f} per bug; "
              f"search {kinds['search']}, core {kinds['core']}, graphql {kinds['graphql']}), {linked} fixes linked, "
              f"{seconds:.1f} s measured, >= {max(seconds, floor) / 60:.1f} min at GitHub's limits")


def main() -> None:
    request_economy()
    linkage_quality()
    listing_cost()
    full_sync_cost()
    hydrate_cost()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
