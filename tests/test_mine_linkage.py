"""Fix linkage keeps only evidence of a fix: one synthetic issue per hard category, with ground truth."""
import pytest

from enginebugs.mining.linkage import touches_code
from tests.github_fake import LINKAGE_CASES, FakeGitHub, FakeServer, populate_linkage
from tests.github_fake.harness import mine, snapshot

REPO = "someone/linkage-engine"
EVIDENCE = {"closing-commit": "closing-commit", "closing-reference": "closing-reference",
            "cross-reference": "cross-reference", "pr-body": "search", "commit-message": "search",
            "follow-up-test-pr": "cross-reference", "reopened-refixed": "closing-reference",
            "docs-then-code": "cross-reference"}


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    github = FakeGitHub(seed=41)
    truth = populate_linkage(github, REPO, 2)
    db = tmp_path_factory.mktemp("linkage") / "linkage.db"
    with FakeServer(github) as server:
        result = mine(server, db, REPO)
    assert result.exit_code == 0, result.output
    return github, truth, {r["number"]: r for r in snapshot(db).values()}


@pytest.mark.parametrize("case", LINKAGE_CASES)
def test_each_category_gets_its_true_fix_or_none(linked, case):
    github, truth, records = linked
    numbers = [n for n, (c, _) in truth.items() if c == case]
    assert len(numbers) == 2
    for number in numbers:
        record, expected = records[number], truth[number][1]
        assert record["fix_number"] == expected, (case, number)
        extra = record["extra"]
        if expected is None:
            assert extra["fix_evidence"] is None and extra["fix_confidence"] is None
            continue
        pull = github.repo(REPO).pulls[expected]
        assert extra["fix_evidence"] == EVIDENCE[case] and 0.5 <= extra["fix_confidence"] <= 1
        assert extra["fix_files"] == [f["filename"] for f in github.repo(REPO).files[expected]]
        assert extra["fix_merge_sha"] == pull["merge_commit_sha"] and extra["fix_labels"] == []


def test_stronger_evidence_has_higher_confidence(linked):
    _, _, records = linked
    by_kind = {}
    for record in records.values():
        if record["extra"]["fix_evidence"]:
            by_kind.setdefault(record["extra"]["fix_evidence"], set()).add(record["extra"]["fix_confidence"])
    order = ["closing-commit", "closing-reference", "cross-reference", "search"]
    assert set(by_kind) == set(order)
    assert all(max(by_kind[a]) > min(by_kind[b]) for a, b in zip(order, order[1:]))
    assert all(min(by_kind[a]) > max(by_kind[b]) for a, b in zip(order, order[1:]))


@pytest.mark.parametrize("files, code", [
    (("engine/kv.py",), True), (("docs/faq.md", "README.md"), False), (("tests/test_kv.py",), False),
    (("docs/usage.rst", "engine/kv.cu"), True), (("CHANGELOG.md",), False), (("src/attention_test.go",), False),
    ((), False),
])
def test_what_counts_as_touching_code(files, code):
    assert touches_code(files) is code
