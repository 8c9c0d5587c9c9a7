"""The GraphQL path: the same records as REST for a fraction of the requests; REST when GraphQL is missing."""
import pytest

from tests.github_fake import FakeGitHub, FakeServer, populate_linkage
from tests.github_fake.harness import mine, mined, snapshot, upstream

VLLM = "vllm-project/vllm"
# GitHub links "Closes #N" in a PR body itself (closedByPullRequestsReferences), so GraphQL names that
# evidence a closing reference where REST needed the search API: the same fix, another evidence kind.
EVIDENCE_KEYS = ("fix_method", "fix_evidence", "fix_confidence")


def comparable(records):
    return {u: {**r, "extra": {k: v for k, v in r["extra"].items() if k not in EVIDENCE_KEYS}}
            for u, r in records.items()}


@pytest.fixture(scope="module")
def github():
    return upstream(71, 60, noise=True)


@pytest.fixture(scope="module")
def rest(github, tmp_path_factory):
    return mined(github, tmp_path_factory.mktemp("rest") / "rest.db", "vllm")


def test_graphql_sync_stores_what_rest_stores_with_far_fewer_requests(github, rest, tmp_path):
    records, rest_requests = rest
    db = tmp_path / "gq.db"
    with FakeServer(github) as server:
        result = mine(server, db, "vllm", "--graphql")
        posts = [e for e in server.log if e.path == "/graphql"]
        requests = len(server.log)
    assert result.exit_code == 0, result.output
    assert comparable(snapshot(db)) == comparable(records)
    assert requests <= 1.2 * len(records) and requests < rest_requests / 2
    assert 2 <= len(posts) <= 6  # 60 bugs: two listing pages, each with one batch of pull requests


def test_graphql_without_search_costs_a_few_requests_per_hundred_bugs(github, rest, tmp_path):
    with FakeServer(github) as server:
        result = mine(server, tmp_path / "ns.db", "vllm", "--graphql", "--no-fix-search")
        requests = len(server.log)
    assert result.exit_code == 0, result.output
    assert requests <= 0.2 * len(rest[0])


def test_an_enterprise_server_without_graphql_falls_back_to_rest(github, rest, tmp_path):
    db = tmp_path / "ghe.db"
    with FakeServer(github, graphql=False) as server:
        result = mine(server, db, "vllm", "--graphql")
    assert result.exit_code == 0, result.output
    assert "GraphQL not usable" in result.output and "listing through REST" in result.output
    assert snapshot(db) == rest[0]


def test_graphql_linkage_keeps_only_fixes(tmp_path):
    github = FakeGitHub(seed=72)
    truth = populate_linkage(github, "someone/gq-engine", 2)
    db = tmp_path / "link.db"
    with FakeServer(github) as server:
        result = mine(server, db, "someone/gq-engine", "--graphql")
    assert result.exit_code == 0, result.output
    found = {r["number"]: r["fix_number"] for r in snapshot(db).values()}
    assert found == {n: pull for n, (_, pull) in truth.items()}
