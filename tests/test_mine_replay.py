"""``mine replay``: the raw-response archive rebuilds the same store offline; the archive stays bounded."""
import pytest
from click.testing import CliRunner

from enginebugs.taxonomy.store import Store
from tests.github_fake import FakeServer
from tests.github_fake.harness import mine, snapshot, sync_checkpoints, upstream

VLLM = "vllm-project/vllm"


def run(*args):
    from enginebugs.cli import main

    return CliRunner().invoke(main, ["mine", *map(str, args)], env={"GITHUB_TOKEN": None})


def archived(db):
    with Store.open(db, readonly=True) as store:
        return store.count("raw_responses")


@pytest.mark.parametrize("api", ["rest", "graphql"])
def test_replay_rebuilds_the_live_store_without_the_network(tmp_path, api):
    flags = ("--comments", "--graphql") if api == "graphql" else ("--comments",)
    github = upstream(61, 40, noise=True)
    live = tmp_path / "live.db"
    with FakeServer(github) as server:
        assert mine(server, live, "vllm", *flags).exit_code == 0
        edited, reopened = sorted(r["number"] for r in snapshot(live).values())[:2]
        github.edit_issue(VLLM, edited, title="Synthetic bug, edited")
        github.reopen(VLLM, reopened)
        second = mine(server, live, "vllm", *flags)
    assert second.exit_code == 0 and "1 left the selection" in second.output, second.output
    rebuilt = tmp_path / "rebuilt.db"
    result = run("replay", live, "--db", rebuilt)  # the server is gone: any request would fail
    assert result.exit_code == 0, result.output
    assert "replayed" in result.output
    assert snapshot(rebuilt) == snapshot(live)
    assert [c["last_synced_at"] for c in sync_checkpoints(rebuilt)] == [
        c["last_synced_at"] for c in sync_checkpoints(live)]


def test_replay_notices_a_hole_in_the_archive(tmp_path):
    live = tmp_path / "live.db"
    with FakeServer(upstream(62, 5)) as server:
        assert mine(server, live, "vllm").exit_code == 0
    with Store.open(live) as store, store.transaction():
        store.conn.execute("DELETE FROM raw_responses WHERE url LIKE '%/timeline%' AND id = "
                           "(SELECT MIN(id) FROM raw_responses WHERE url LIKE '%/timeline%')")
    result = run("replay", live, "--db", tmp_path / "holed.db")
    assert result.exit_code == 0, result.output
    assert "unreachable:" in result.output and "not in the archive" in result.output
    assert snapshot(tmp_path / "holed.db") != snapshot(live)  # the oracle sees a difference


def test_identical_responses_are_archived_once_and_prune_keeps_the_newest(tmp_path):
    github = upstream(63, 12)
    db = tmp_path / "a.db"
    with FakeServer(github) as server:
        assert mine(server, db, "vllm").exit_code == 0
        first = archived(db)
        requests = len(server.log)
        assert first == requests  # every response of the first sync is new
        for _ in range(3):
            assert mine(server, db, "vllm").exit_code == 0
        assert len(server.log) - requests == 6 and archived(db) == first + 1  # the resync's listing only once
        github.edit_issue(VLLM, 1, title="Synthetic bug, edited")
        assert mine(server, db, "vllm").exit_code == 0
    grown = archived(db)
    assert grown > first + 1
    pruned = run("archive", "--prune", "--db", db)
    assert pruned.exit_code == 0, pruned.output
    with Store.open(db, readonly=True) as store:
        urls = store.conn.execute("SELECT COUNT(DISTINCT url) FROM raw_responses").fetchone()[0]
    assert archived(db) == urls < grown
    assert f"{urls} archived responses of {urls} URLs" in pruned.output
