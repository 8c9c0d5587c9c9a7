"""``enginebugs mine hydrate``: the paper's URL-only records become full records; the rest are reported."""
import pytest

from enginebugs.mining.paper_dataset import import_into, parse, read_text
from enginebugs.taxonomy.store import Store
from tests.github_fake import FakeGitHub, FakeServer
from tests.github_fake.harness import mine, snapshot
from tests.paths import paper_csv


@pytest.fixture(scope="module")
def paper_bugs():
    return parse(read_text(str(paper_csv())))


@pytest.fixture(scope="module")
def known(paper_bugs):
    """Synthetic upstream content for the first bug of each engine (five URLs of the 929)."""
    github, chosen = FakeGitHub(seed=8), {}
    for bug in paper_bugs:
        if bug.engine not in {b.engine for b in chosen.values()}:
            chosen[bug.url] = bug
    for i, bug in enumerate(chosen.values()):
        github.add_issue(bug.repo, f"Synthetic paper bug {i}", f"Synthetic body {i}.", number=bug.number,
                         labels=("bug",), comments=i)
        github.repo(bug.repo).next_number = 10**6  # fix PRs must not take numbers of other paper bugs
        github.close(bug.repo, bug.number, fix=("closing-commit", "closing-reference", "pr-body", None,
                                                "cross-reference")[i])
    return github, chosen


def imported(paper_bugs, path):
    with Store.open(path) as store:
        import_into(store, paper_bugs)
    return path


def test_hydrate_fills_known_records_and_reports_the_rest(paper_bugs, known, tmp_path):
    github, chosen = known
    db = imported(paper_bugs, tmp_path / "paper.db")
    before = snapshot(db)
    with FakeServer(github) as server:
        result = mine(server, db, "hydrate", "--comments")
        issue_gets = [e.path for e in server.log if e.path.count("/") == 5 and "/issues/" in e.path]
    assert result.exit_code == 0, result.output
    assert f"hydrated 5 records, {len(paper_bugs) - 5} unreachable" in result.output
    assert "unreachable: https://github.com/" in result.output and "(not found)" in result.output
    assert len(issue_gets) == len(set(issue_gets)) == len(paper_bugs)  # each URL asked once: no retry on 404
    after = snapshot(db)
    assert set(after) == set(before)
    for url, bug in chosen.items():
        upstream = github.repo(bug.repo).issues[bug.number]
        record = after[url]
        assert (record["title"], record["body"], record["state"], record["labels"]) == (
            upstream["title"], upstream["body"], "closed", ["bug"])
        assert (record["created_at"], record["closed_at"]) == (upstream["created_at"], upstream["closed_at"])
        assert record["engine"] == bug.engine and record["_labels"] == before[url]["_labels"]  # paper labels kept
        assert len(record["comments"]) == upstream["comments"]
        assert record["time_to_fix_days"] is not None
    linked = [after[u] for u in chosen if after[u]["fix_url"]]
    assert len(linked) == 4 and all(r["fix_merged_at"] and r["fix_additions"] is not None for r in linked)
    untouched = [r for u, r in after.items() if u not in chosen]
    assert all(r == before[u] for u, r in after.items() if u not in chosen) and untouched
    with Store.open(db) as store:
        assert store.count("raw_responses") > 5


def test_rehydrate_skips_done_records_and_limit_bounds_the_run(paper_bugs, known, tmp_path):
    github, chosen = known
    db = imported(paper_bugs, tmp_path / "again.db")
    with FakeServer(github) as server:
        first = mine(server, db, "hydrate", "--engine", "vLLM", "--no-fixes")
        vllm = [u for u, b in chosen.items() if b.engine == "vLLM"]
        requests = len(server.log)
        second = mine(server, db, "hydrate", "--limit", 20)
        asked = {e.path for e in server.log[requests:]}
    assert first.exit_code == 0 and "hydrated 1 records" in first.output, first.output
    assert snapshot(db)[vllm[0]]["title"] and snapshot(db)[vllm[0]]["fix_url"] is None
    assert second.exit_code == 0 and "hydrated 1 records, 19 unreachable" in second.output  # llama.cpp's
    assert f"/repos/vllm-project/vllm/issues/{chosen[vllm[0]].number}" not in asked
