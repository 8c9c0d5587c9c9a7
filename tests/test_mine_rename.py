"""Renamed and transferred repositories: resolved first, never listed through a lossy redirect."""
from github import Auth, Github

from enginebugs.taxonomy.store import Store
from tests.github_fake import FakeGitHub, FakeServer
from tests.github_fake.harness import TOKEN, mine, snapshot

OLD, NEW = "oldhome/tiny-engine", "newhome/tiny-engine"
PRESETS = f'''
[[engine]]
name = "TinyEngine"
repo = "{OLD}"
labels = ["bug"]
state = "closed"
'''


def renamed_upstream() -> tuple[FakeGitHub, set[int]]:
    """A repository with closed bugs, open bugs and closed unlabelled issues, then renamed."""
    github = FakeGitHub(seed=31)
    bugs = set()
    for i in range(6):
        bug = github.add_issue(OLD, f"Synthetic bug {i}")
        github.close(OLD, bug, fix="closing-reference" if i % 2 else "cross-reference")
        bugs.add(bug)
        github.add_issue(OLD, f"Synthetic open bug {i}")
        github.close(OLD, github.add_issue(OLD, f"Synthetic question {i}", labels=()))
    github.rename(OLD, NEW)
    return github, bugs


def test_the_fake_reproduces_the_lossy_redirect():
    """Negative control: PyGithub on its own follows the 301 and loses the query."""
    github, bugs = renamed_upstream()
    with FakeServer(github) as server:
        client = Github(base_url=server.url, auth=Auth.Token(TOKEN), retry=None)
        _, items = client.requester.requestJsonAndCheck("GET", f"/repos/{OLD}/issues",
                                                        {"state": "closed", "labels": "bug", "per_page": 100})
        assert server.log[0].status == 301 and server.log[1].query == {}
    assert {i["number"] for i in items} != bugs  # open issues and pull requests came back as well


def test_a_preset_naming_the_former_repository_mines_the_current_one(tmp_path):
    github, bugs = renamed_upstream()
    presets = tmp_path / "presets.toml"
    presets.write_text(PRESETS)
    db = tmp_path / "renamed.db"
    with FakeServer(github) as server:
        result = mine(server, db, "tinyengine", "--presets", presets)
        lossy = [e for e in server.log if e.path.startswith(f"/repos/{OLD}/")]
        statuses = [e.status for e in server.log]
    assert result.exit_code == 0, result.output
    assert f"{OLD} is now {NEW} (renamed or transferred): mining {NEW}" in result.output
    assert f"{NEW} (formerly {OLD}): 6 new" in result.output
    assert not lossy and statuses.count(301) == 1  # only the repository lookup was redirected
    records = snapshot(db).values()
    assert {r["number"] for r in records} == bugs
    assert {r["repo"] for r in records} == {NEW} and {r["collection"] for r in records} == {f"mined:{NEW}"}
    assert all(r["url"].startswith(f"https://github.com/{NEW}/issues/") for r in records)
    assert all(r["state"] == "closed" and r["labels"] == ["bug"] for r in records)
    assert all(r["fix_url"] for r in records)  # "fixes oldhome/tiny-engine#N" still counts as this repository
    with Store.open(db) as store:
        names = {r["name"]: (r["canonical"], r["github_id"]) for r in store.conn.execute("SELECT * FROM repo_names")}
    assert names == {OLD: (NEW, github.repo(NEW).id), NEW: (NEW, github.repo(NEW).id)}


def test_records_mined_before_a_rename_move_to_the_new_name(tmp_path):
    github = FakeGitHub(seed=32)
    numbers = [github.add_issue(OLD, f"Synthetic bug {i}") for i in range(3)]
    for number in numbers:
        github.close(OLD, number)
    db = tmp_path / "moved.db"
    with FakeServer(github) as server:
        assert mine(server, db, OLD, "--no-fixes").exit_code == 0
        github.rename(OLD, NEW)
        github.edit_issue(NEW, numbers[0], title="Synthetic bug, edited after the move")
        result = mine(server, db, OLD, "--no-fixes")
    assert result.exit_code == 0, result.output
    assert "3 stored records moved to it" in result.output
    records = snapshot(db)
    assert sorted(records) == [f"https://github.com/{NEW}/issues/{n}" for n in numbers]  # moved, not duplicated
    assert records[f"https://github.com/{NEW}/issues/{numbers[0]}"]["title"] == "Synthetic bug, edited after the move"


def test_hydrate_follows_a_rename_it_learns_from_a_redirect(tmp_path):
    github = FakeGitHub(seed=33)
    number = github.add_issue(OLD, "Synthetic bug")
    github.close(OLD, number, fix="closing-reference")
    url = f"https://github.com/{OLD}/issues/{number}"
    github.rename(OLD, NEW)
    db = tmp_path / "hydrate.db"
    with Store.open(db) as store, store.transaction():
        store.upsert_record({"url": url, "engine": "TinyEngine", "repo": OLD, "number": number})
    with FakeServer(github) as server:
        result = mine(server, db, "hydrate")
    assert result.exit_code == 0, result.output
    assert f"{OLD} is now {NEW}" in result.output and "hydrated 1 records, 0 unreachable" in result.output
    (record,) = snapshot(db).values()
    assert record["url"] == url and record["repo"] == NEW and record["fix_url"]  # the paper's URL stays the key
    assert record["extra"]["html_url"] == f"https://github.com/{NEW}/issues/{number}"
