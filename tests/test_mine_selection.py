"""Issues that leave the selection upstream (reopened, relabelled) are updated by the next sync, with history."""
from enginebugs.mining import sampling
from enginebugs.taxonomy.store import Store
from tests.github_fake import FakeGitHub, FakeServer
from tests.github_fake.harness import mine, snapshot

REPO = "someone/select-engine"


def test_reopened_and_relabelled_issues_leave_the_selection_and_come_back(tmp_path):
    github = FakeGitHub(seed=51)
    numbers = [github.add_issue(REPO, f"Synthetic bug {i}") for i in range(4)]
    for number in numbers:
        github.close(REPO, number, fix="closing-reference")
    github.add_issue(REPO, "Synthetic open question", labels=("question",))
    reopened, relabelled, edited, quiet = numbers
    db = tmp_path / "select.db"
    url = {n: github.repo(REPO).issues[n]["html_url"] for n in numbers}
    with FakeServer(github) as server:
        assert mine(server, db, REPO).exit_code == 0
        github.reopen(REPO, reopened)
        github.edit_issue(REPO, relabelled, labels=("question",))
        github.edit_issue(REPO, edited, title="Synthetic bug, retitled")
        before = len(server.log)
        second = mine(server, db, REPO)
        second_requests = len(server.log) - before
        after_second = snapshot(db)
        with Store.open(db) as store:
            population = {r["number"] for r in sampling.population(store, "select-engine")}
        github.close(REPO, reopened, fix="closing-reference")  # fixed again
        third = mine(server, db, REPO)
    assert second.exit_code == 0 and third.exit_code == 0, second.output + third.output
    assert "0 new, 1 updated, 1 unchanged, 1 skipped, 2 left the selection" in second.output
    gone = after_second[url[reopened]]
    assert gone["state"] == "open" and gone["extra"]["selected"] is False
    assert gone["extra"]["reopen_count"] == 1
    assert gone["extra"]["history"][-1] == {"at": gone["updated_at"], "state": "open", "selected": False}
    moved = after_second[url[relabelled]]
    assert moved["labels"] == ["question"] and moved["extra"]["selected"] is False
    assert moved["extra"]["history"][-1]["labels_removed"] == ["bug"]
    assert after_second[url[edited]]["title"] == "Synthetic bug, retitled"
    assert after_second[url[quiet]]["extra"]["selected"] is True
    assert population == {edited, quiet}  # the sample frame follows the selection
    assert second_requests <= 12  # repository, one listing page, the edited bug's linkage
    back = snapshot(db)[url[reopened]]
    assert back["state"] == "closed" and back["extra"]["selected"] is True
    assert back["extra"]["history"][-1]["selected"] is True and back["extra"]["reopen_count"] == 1
    last_fix = max(n for n, p in github.repo(REPO).pulls.items() if p["body"] == f"This PR resolves: #{reopened} for good.")
    assert back["fix_number"] == last_fix  # the second fix, not the first
    labels = back["extra"]["label_history"]
    assert labels == [{"at": github.repo(REPO).issues[reopened]["created_at"], "label": "bug", "action": "added"}]
