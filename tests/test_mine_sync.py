"""``enginebugs mine``: what a sync stores, fix linkage, incremental reruns, upstream edits, selection rules."""
import math

import pytest

from enginebugs.mining.parse import days_between
from enginebugs.taxonomy.store import Store
from tests.github_fake import FakeGitHub, FakeServer, populate
from tests.github_fake.harness import mine, snapshot, sync_checkpoints

VLLM = "vllm-project/vllm"


@pytest.fixture(scope="module")
def upstream():
    github = FakeGitHub(seed=1)
    fixes = populate(github, VLLM, 30)
    return github, fixes


@pytest.fixture(scope="module")
def synced(upstream, tmp_path_factory):
    """One full sync of the vLLM fake, shared by the read-only tests."""
    github, fixes = upstream
    db = tmp_path_factory.mktemp("sync") / "mined.db"
    with FakeServer(github) as server:
        result = mine(server, db, "vllm")
        assert result.exit_code == 0, result.output
        yield github, fixes, db, server, result


def closed_bugs(github, repo=VLLM, labels=("bug",)):
    return {n: i for n, i in github.repo(repo).issues.items()
            if i["state"] == "closed" and not i.get("pull_request")
            and set(labels) <= {x["name"] for x in i["labels"]}}


def test_sync_stores_every_closed_bug_with_its_fields(synced):
    github, _, db, _, result = synced
    expected = closed_bugs(github)
    records = snapshot(db)
    assert set(records) == {i["html_url"] for i in expected.values()}
    assert f"{len(expected)} new, 0 updated, 0 unchanged" in result.output
    for issue in expected.values():
        record = records[issue["html_url"]]
        assert (record["engine"], record["repo"], record["kind"], record["number"]) == ("vLLM", VLLM, "issue",
                                                                                       issue["number"])
        for field in ("title", "body", "state", "author_association", "created_at", "updated_at", "closed_at"):
            assert record[field] == issue[field], field
        assert record["labels"] == [x["name"] for x in issue["labels"]]
        assert record["comments_count"] == issue["comments"]
        assert record["extra"]["state_reason"] == issue["state_reason"]


def test_open_bugs_features_and_pull_requests_are_not_stored(synced):
    github, _, db, _, result = synced
    urls = set(snapshot(db))
    issues = github.repo(VLLM).issues.values()
    assert any(i["state"] == "open" for i in issues)
    assert not {i["html_url"] for i in issues if i["state"] == "open" or i.get("pull_request")} & urls
    bug_prs = [i for i in issues if i.get("pull_request") and i["labels"]]
    assert bug_prs and f"{len(bug_prs)} skipped" in result.output  # listed (labelled bug) but skipped


def test_fix_linkage_finds_each_kind_of_evidence(synced):
    github, fixes, db, _, _ = synced
    records = {r["number"]: r for r in snapshot(db).values()}
    repo = github.repo(VLLM)
    assert set(fixes.values()) >= {"closing-commit", "closing-reference", "cross-reference", "pr-body",
                                   "commit-message", None}
    for number, method in fixes.items():
        record = records[number]
        assert record["extra"].get("fix_method") == method, number
        if method is None:
            assert record["fix_url"] is None and record["fix_number"] is None
            if record["extra"]["state_reason"] == "not_planned":
                assert record["time_to_fix_days"] is None
            else:  # closed without a linked fix: time to close
                assert record["time_to_fix_days"] == pytest.approx(
                    days_between(record["created_at"], record["closed_at"]), abs=1e-6)
                assert record["extra"]["time_to_fix_basis"] == "closed"
            continue
        pull = repo.pulls[record["fix_number"]]
        assert pull["merged_at"] and record["fix_url"] == pull["html_url"]
        assert (record["fix_merged_at"], record["fix_files_changed"], record["fix_additions"],
                record["fix_deletions"]) == (pull["merged_at"], pull["changed_files"], pull["additions"],
                                             pull["deletions"])
        assert record["time_to_fix_days"] == pytest.approx(
            days_between(record["created_at"], pull["merged_at"]), abs=1e-6)
        assert record["time_to_fix_days"] > 0


def test_closing_reference_beats_a_later_merged_cross_reference(synced):
    github, fixes, db, _, _ = synced
    records = {r["number"]: r for r in snapshot(db).values()}
    repo = github.repo(VLLM)
    for number in (n for n, m in fixes.items() if m == "closing-reference"):
        body = repo.pulls[records[number]["fix_number"]]["body"]
        assert f"resolves: #{number}" in body  # not the decoys merged closer to the closing


def test_second_sync_without_upstream_change_costs_at_most_two_requests(synced, tmp_path):
    github, _, db, server, _ = synced
    before, requests = snapshot(db), len(server.log)
    result = mine(server, db, "vllm")
    assert result.exit_code == 0, result.output
    assert len(server.log) - requests <= 2
    assert "0 new, 0 updated" in result.output
    assert snapshot(db) == before
    listing = server.log[-1]
    assert listing.query["sort"] == "updated" and listing.query["direction"] == "asc" and "since" in listing.query


def test_upstream_edit_updates_the_record_and_keeps_its_labels(upstream, tmp_path):
    github, _ = upstream
    db = tmp_path / "edit.db"
    with FakeServer(github) as server:
        assert mine(server, db, "vllm").exit_code == 0
        number = next(iter(closed_bugs(github)))
        url = github.repo(VLLM).issues[number]["html_url"]
        with Store.open(db) as store, store.transaction():
            store.set_labels(store.get_record(url)["id"], "symptom", ["crash"], source="manual", coder="ana")
        before = snapshot(db)
        github.edit_issue(VLLM, number, title="Synthetic bug, retitled upstream", labels=("bug", "regression"))
        requests = len(server.log)
        result = mine(server, db, "vllm")
    assert result.exit_code == 0, result.output
    assert "0 new, 1 updated" in result.output
    after = snapshot(db)
    assert set(after) == set(before)  # updated in place, not duplicated
    assert after[url]["title"] == "Synthetic bug, retitled upstream"
    assert after[url]["labels"] == ["bug", "regression"]
    assert after[url]["_labels"] == before[url]["_labels"] == [("symptom", "crash", "manual")]
    assert {u: r for u, r in after.items() if u != url} == {u: r for u, r in before.items() if u != url}
    assert len(server.log) - requests <= 8  # one listing page plus the edited issue's linkage


def test_listing_follows_link_pages_of_100(tmp_path):
    github = FakeGitHub(seed=2)
    populate(github, VLLM, 230, noise=False)
    db = tmp_path / "pages.db"
    with FakeServer(github) as server:
        result = mine(server, db, "vllm", "--no-fixes")
        assert result.exit_code == 0, result.output
        lists = [e for e in server.log if e.path.endswith("/issues")]
    assert len(lists) == math.ceil(230 / 100) == 3
    assert [e.query.get("page", "1") for e in lists] == ["1", "2", "3"]
    assert all(e.query["per_page"] == "100" for e in lists)
    assert len(snapshot(db)) == 230


def test_limit_stops_early_and_the_rerun_continues_to_the_same_store(upstream, tmp_path):
    github, _ = upstream
    with FakeServer(github) as server:
        full = tmp_path / "full.db"
        assert mine(server, full, "vllm").exit_code == 0
        part = tmp_path / "part.db"
        first = mine(server, part, "vllm", "--limit", 10)
        assert first.exit_code == 0, first.output
        assert "10 new" in first.output and "stopped early" in first.output
        assert len(snapshot(part)) == 10 and sync_checkpoints(part)[0]["checkpoint"]
        second = mine(server, part, "vllm")
    assert second.exit_code == 0, second.output
    assert snapshot(part) == snapshot(full)
    assert sync_checkpoints(part)[0]["checkpoint"] is None


def test_comments_and_pull_requests_on_request(upstream, tmp_path):
    github, _ = upstream
    db = tmp_path / "comments.db"
    with FakeServer(github) as server:
        result = mine(server, db, "vllm", "--comments", "--include-prs", "--no-fixes")
    assert result.exit_code == 0, result.output
    records = snapshot(db)
    issues = github.repo(VLLM).issues
    prs = [r for r in records.values() if r["kind"] == "pr"]
    assert prs and all(issues[r["number"]]["pull_request"] for r in prs)
    with_comments = [r for r in records.values() if r["comments_count"]]
    assert with_comments
    for record in records.values():
        assert len(record["comments"]) == record["comments_count"]
        upstream = github.repo(VLLM).comments[record["number"]]
        assert [c["body"] for c in record["comments"]] == [c["body"] for c in upstream]


def test_window_labels_and_state_select_issues(upstream, tmp_path):
    github, _ = upstream
    bugs = sorted(closed_bugs(github).values(), key=lambda i: i["created_at"])
    since, until = bugs[5]["created_at"][:10], bugs[-5]["created_at"]
    db = tmp_path / "window.db"
    with FakeServer(github) as server:
        result = mine(server, db, "vllm", "--since", since, "--until", until, "--no-fixes")
        assert result.exit_code == 0, result.output
        assert server.log[1].query["since"] == f"{since}T00:00:00Z"
        enhancements = mine(server, tmp_path / "enh.db", VLLM, "--labels", "enhancement", "--no-fixes")
        opened = mine(server, tmp_path / "open.db", "vllm", "--state", "open", "--no-fixes")
    assert {r["number"] for r in snapshot(db).values()} == {
        i["number"] for i in bugs if f"{since}T00:00:00Z" <= i["created_at"] <= until}
    assert enhancements.exit_code == 0 and snapshot(tmp_path / "enh.db")
    assert all(r["labels"] == ["enhancement"] for r in snapshot(tmp_path / "enh.db").values())
    assert opened.exit_code == 0 and snapshot(tmp_path / "open.db")
    assert all(r["state"] == "open" for r in snapshot(tmp_path / "open.db").values())


def test_deepspeed_rule_needs_bug_and_inference_and_former_names_resolve(tmp_path):
    github = FakeGitHub(seed=3)
    both = github.add_issue("deepspeedai/DeepSpeed", "Synthetic inference bug", labels=("bug", "inference"))
    github.add_issue("deepspeedai/DeepSpeed", "Synthetic training bug", labels=("bug", "training"))
    for number in list(github.repo("deepspeedai/DeepSpeed").issues):
        github.close("deepspeedai/DeepSpeed", number)
    db = tmp_path / "ds.db"
    with FakeServer(github) as server:
        result = mine(server, db, "microsoft/DeepSpeed", "--no-fixes")
    assert result.exit_code == 0, result.output
    assert [e.path for e in server.log[:2]] == ["/repos/deepspeedai/DeepSpeed", "/repos/deepspeedai/DeepSpeed/issues"]
    assert server.log[1].query["labels"] == "bug,inference"
    assert [(r["number"], r["engine"]) for r in snapshot(db).values()] == [(both, "DeepSpeed")]


def test_keyword_rule_for_an_arbitrary_repository(tmp_path):
    github = FakeGitHub(seed=4)
    hit = github.add_issue("someone/tiny-engine", "Synthetic CUDA crash", labels=("crash",))
    github.add_issue("someone/tiny-engine", "Synthetic CPU crash", labels=("crash",))
    db = tmp_path / "kw.db"
    with FakeServer(github) as server:
        result = mine(server, db, "someone/tiny-engine", "--labels", "crash", "--keywords", "cuda,rocm",
                      "--state", "all", "--no-fixes")
    assert result.exit_code == 0, result.output
    assert [(r["number"], r["engine"], r["repo"]) for r in snapshot(db).values()] == [
        (hit, "tiny-engine", "someone/tiny-engine")]


@pytest.mark.parametrize("args, message", [
    (("no-such-engine",), "unknown engine"),
    (("vllm", "--since", "yesterday"), "not a date"),
    (("vllm", "--presets", "/nonexistent/presets.toml"), "cannot read presets"),
])
def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, args, message):
    db = tmp_path / "bad.db"
    with FakeServer(FakeGitHub()) as server:
        result = mine(server, db, *args)
        assert not server.log
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: ") and message in result.output
    assert not db.exists()


def test_unknown_closing_commit_falls_back_to_other_evidence(tmp_path):
    github = FakeGitHub(seed=9)
    number = github.add_issue(VLLM, "Synthetic bug closed from a fork")
    pull = github.add_pull(VLLM, "Synthetic repair", "Related to the report")
    github.cross_reference(VLLM, number, pull)
    github.close(VLLM, number)
    github.repo(VLLM).timelines[number][-1]["commit_id"] = "0" * 40  # a commit this repository does not have
    db = tmp_path / "fork.db"
    with FakeServer(github) as server:
        result = mine(server, db, "vllm")
        statuses = [e.status for e in server.log]
    assert result.exit_code == 0, result.output
    assert 422 in statuses
    (record,) = snapshot(db).values()
    assert (record["fix_number"], record["extra"]["fix_method"]) == (pull, "cross-reference")


def test_several_engines_in_one_run_and_no_token_warning(tmp_path):
    github = FakeGitHub(seed=10)
    for repo in (VLLM, "ggml-org/llama.cpp"):
        github.close(repo, github.add_issue(repo, "Synthetic bug"))
    db = tmp_path / "two.db"
    with FakeServer(github) as server:
        result = mine(server, db, "vllm", "llama.cpp", "--no-fixes", token="")
        tokens = {e.token for e in server.log}
    assert result.exit_code == 0, result.output
    assert "warning: no GitHub token" in result.output and tokens == {None}
    assert "vllm-project/vllm: 1 new" in result.output and "ggml-org/llama.cpp: 1 new" in result.output
    assert "total: 2 new, 0 updated, 0 unchanged, 4 requests" in result.output
    assert sorted(r["engine"] for r in snapshot(db).values()) == ["llama.cpp", "vLLM"]
