"""A run killed or interrupted at any moment resumes to exactly the store an uninterrupted run gives."""
import pytest

from enginebugs.mining.client import GitHubClient
from enginebugs.mining.miner import Miner
from enginebugs.taxonomy.store import Store
from tests.github_fake import FakeGitHub, FakeServer, populate
from tests.github_fake.harness import mine, mine_process, snapshot, sync_checkpoints

VLLM = "vllm-project/vllm"


@pytest.fixture(scope="module")
def github():
    github = FakeGitHub(seed=7)
    populate(github, VLLM, 130, noise=False)  # 130 closed bugs: pages of 100 and 30
    return github


@pytest.fixture(scope="module")
def clean(github, tmp_path_factory):
    db = tmp_path_factory.mktemp("clean") / "clean.db"
    with FakeServer(github) as server:
        result = mine(server, db, "vllm", "--comments")
        page2 = next(i for i, e in enumerate(server.log) if e.query.get("page") == "2")
    assert result.exit_code == 0, result.output
    return snapshot(db), page2 + 1  # requests up to and including the second listing page


def committed_pages_are_whole(db, clean_records):
    """Whatever a killed run left is a prefix of the clean store by update time, each record complete."""
    partial = snapshot(db)
    assert all(partial[url] == clean_records[url] for url in partial)
    cursor = max((r["updated_at"] for r in partial.values()), default=None)
    missing = [r for url, r in clean_records.items() if url not in partial]
    assert cursor is None or all(r["updated_at"] >= cursor for r in missing)
    return partial


@pytest.mark.parametrize("moment", ["amid page 1", "amid page 2"])
def test_resume_after_sigkill_equals_an_uninterrupted_run(github, clean, tmp_path, moment):
    records, page2 = clean
    db = tmp_path / "killed.db"
    kill_at = page2 // 2 if moment == "amid page 1" else page2 + 7  # during fix linkage either way
    with FakeServer(github) as server:
        killed = mine_process(server, db, "vllm", "--comments", kill_at=kill_at)
        assert killed.returncode == -9, killed.stdout
        partial = committed_pages_are_whole(db, records)
        assert len(partial) < len(records)
        if moment == "amid page 2":  # page 1 committed, with a checkpoint to resume from
            assert partial and sync_checkpoints(db)[0]["checkpoint"]
        else:
            assert not partial
        resumed = mine(server, db, "vllm", "--comments")
    assert resumed.exit_code == 0, resumed.output
    assert ("resuming an interrupted sync" in resumed.output) == bool(partial)
    assert snapshot(db) == records


def test_keyboard_interrupt_inside_a_page_write_rolls_it_back(github, clean, tmp_path, monkeypatch):
    records, _ = clean
    db = tmp_path / "interrupted.db"
    upsert, commit = Store.upsert_record, Miner._commit
    calls = {"commits": 0, "upserts": 0}

    def interrupting_upsert(self, record):
        calls["upserts"] += 1
        if calls["upserts"] == 3:
            raise KeyboardInterrupt
        return upsert(self, record)

    def commit_page(self, *args):
        calls["commits"] += 1
        if calls["commits"] == 2:  # the second page's transaction: interrupt its third write
            monkeypatch.setattr(Store, "upsert_record", interrupting_upsert)
        return commit(self, *args)

    with FakeServer(github) as server:
        monkeypatch.setattr(Miner, "_commit", commit_page)
        interrupted = mine(server, db, "vllm", "--comments")
        monkeypatch.setattr(Store, "upsert_record", upsert)
        monkeypatch.setattr(Miner, "_commit", commit)
        assert interrupted.exit_code == 130 and "rerun the same command to resume" in interrupted.output
        partial = committed_pages_are_whole(db, records)
        assert calls["upserts"] == 3 and 0 < len(partial) < len(records)
        resumed = mine(server, db, "vllm", "--comments")
    assert resumed.exit_code == 0, resumed.output
    assert snapshot(db) == records


def test_keyboard_interrupt_between_requests_resumes(github, clean, tmp_path, monkeypatch):
    records, page2 = clean
    db = tmp_path / "ctrl-c.db"
    get = GitHubClient.get
    calls = {"n": 0}

    def interrupting_get(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == page2 + 20:
            raise KeyboardInterrupt
        return get(self, *args, **kwargs)

    with FakeServer(github) as server:
        monkeypatch.setattr(GitHubClient, "get", interrupting_get)
        assert mine(server, db, "vllm", "--comments").exit_code == 130
        monkeypatch.setattr(GitHubClient, "get", get)
        committed_pages_are_whole(db, records)
        resumed = mine(server, db, "vllm", "--comments")
    assert resumed.exit_code == 0, resumed.output
    assert snapshot(db) == records
