"""Rate limits, retries, malformed responses and token hygiene of ``enginebugs mine``."""
import logging

import pytest

from tests.github_fake import FakeGitHub, FakeServer, populate
from tests.github_fake.harness import TOKEN, fake_token, mine, snapshot, sync_checkpoints

VLLM = "vllm-project/vllm"


@pytest.fixture(scope="module")
def github():
    github = FakeGitHub(seed=5)
    populate(github, VLLM, 110, noise=False)  # 110 closed bugs: two listing pages
    return github


@pytest.fixture(scope="module")
def clean(github, tmp_path_factory):
    """The store an uninterrupted, fault-free run produces."""
    db = tmp_path_factory.mktemp("clean") / "clean.db"
    with FakeServer(github) as server:
        result = mine(server, db, "vllm")
    assert result.exit_code == 0, result.output
    return snapshot(db)


def test_transient_faults_are_retried_with_backoff(github, clean, tmp_path):
    db = tmp_path / "faults.db"
    with FakeServer(github) as server:
        server.fault("502", r"/issues\?", times=2)
        server.fault("reset", r"/timeline", nth=3)
        server.fault("timeout", r"/pulls/", nth=2, seconds=1.5)
        server.fault("secondary", r"/search/", nth=2, seconds=1)
        result = mine(server, db, "vllm")
        statuses = [e.status for e in server.log]
    assert result.exit_code == 0, result.output
    for evidence in ("HTTP 502; retry 1/5", "HTTP 502; retry 2/5", "ChunkedEncodingError; retry 1/5",
                     "ReadTimeout; retry 1/5", "secondary rate limit"):
        assert evidence in result.output
    assert statuses.count(502) == 2 and statuses.count(403) == 1
    assert snapshot(db) == clean


def test_primary_rate_limit_waits_for_the_reset_with_a_countdown(github, clean, tmp_path):
    db = tmp_path / "limited.db"
    with FakeServer(github) as server:
        server.fault("rate_limit", r"/issues\?.*page=2", seconds=1)
        result = mine(server, db, "vllm")
        refused = [i for i, e in enumerate(server.log) if e.status == 403]
        after = server.log[refused[0] + 1] if refused else None
    assert result.exit_code == 0, result.output
    assert len(refused) == 1 and after.status == 200 and after.query.get("page") == "2"
    assert "primary rate limit hit on token 1/1" in result.output
    assert "resuming at reset: waiting" in result.output
    assert snapshot(db) == clean


def test_low_quota_waits_before_github_refuses(tmp_path):
    github = FakeGitHub(seed=6)
    populate(github, VLLM, 230, noise=False)
    db = tmp_path / "quota.db"
    with FakeServer(github, token_limits={TOKEN: 2}, windows={"core": 1.0, "search": 60.0}) as server:
        result = mine(server, db, "vllm", "--no-fixes", "--min-quota", 1)
        statuses = [e.status for e in server.log]
    assert result.exit_code == 0, result.output
    assert statuses == [200] * 4  # repository lookup and 3 pages: never refused ...
    assert "rate limit low" in result.output and "waiting" in result.output  # ... because it waited
    assert len(snapshot(db)) == 230


def test_tokens_rotate_by_remaining_quota(github, clean, tmp_path):
    db = tmp_path / "rotate.db"
    small, large = fake_token("small-quota"), fake_token("large-quota")
    with FakeServer(github, token_limits={small: 3}) as server:
        result = mine(server, db, "vllm", token=f"{small},{large}")
        core = [e.token for e in server.log if not e.path.startswith("/search/")]
        search = [e.token for e in server.log if e.path.startswith("/search/")]
        statuses = {e.status for e in server.log}
    assert result.exit_code == 0, result.output
    assert 1 <= core.count(small) <= 3 and core.count(large) > 100  # small core quota: soon left alone
    assert search.count(small) > 5 and search.count(large) > 5  # equal search quotas: shared
    assert statuses == {200} and "waiting" not in result.output
    assert small not in result.output and large not in result.output
    assert snapshot(db) == clean


def test_truncated_json_is_retried_like_a_broken_connection(github, clean, tmp_path):
    db = tmp_path / "truncated-once.db"
    with FakeServer(github) as server:
        server.fault("truncated", r"/issues\?.*page=2")
        server.fault("truncated", r"/timeline", nth=4, times=2)
        result = mine(server, db, "vllm")
    assert result.exit_code == 0, result.output
    assert "issues page 2: malformed JSON; retry 1/5" in result.output and "timeline page 1: malformed JSON; retry 2/5" in result.output
    assert snapshot(db) == clean


def test_a_listing_page_that_never_parses_stops_the_run_keeping_whole_pages(github, clean, tmp_path):
    db = tmp_path / "truncated.db"
    with FakeServer(github) as server:
        server.fault("truncated", r"/issues\?.*page=2", times=99)
        result = mine(server, db, "vllm", "--retries", 1)
    assert result.exit_code == 1
    assert "error: vllm-project/vllm issues page 2: malformed JSON" in result.output
    assert "still after 1 retries" in result.output
    partial = snapshot(db)
    assert len(partial) == 100  # page 1 committed whole, nothing of page 2
    assert all(partial[url] == clean[url] for url in partial)  # each kept record is complete
    assert sync_checkpoints(db)[0]["checkpoint"]
    with FakeServer(github) as server:
        assert mine(server, db, "vllm").exit_code == 0
    assert snapshot(db) == clean


def test_an_item_whose_details_never_parse_is_recorded_and_the_run_goes_on(github, clean, tmp_path):
    db = tmp_path / "badpull.db"
    victim = next(r for r in clean.values() if r["fix_number"])
    with FakeServer(github) as server:
        server.fault("truncated", rf"/pulls/{victim['fix_number']}$", times=99)
        result = mine(server, db, "vllm", "--retries", 1)
    assert result.exit_code == 0, result.output
    assert f"unreachable: {victim['url']} (" in result.output and "malformed JSON" in result.output
    assert "109 new, 0 updated, 0 unchanged, 0 skipped, 1 unreachable" in result.output
    stored = snapshot(db)
    assert {u: r for u, r in stored.items() if u != victim["url"]} == {
        u: r for u, r in clean.items() if u != victim["url"]}
    partial = stored[victim["url"]]
    assert partial["title"] == victim["title"] and partial["fix_url"] is None  # no half-linked record
    assert "malformed JSON" in partial["extra"]["unreachable"]
    with FakeServer(github) as server:  # the next sync completes it
        again = mine(server, db, "vllm")
    assert "0 new, 1 updated" in again.output
    assert snapshot(db) == clean


def test_persistent_server_errors_stop_the_run_and_leave_no_new_store(github, tmp_path):
    db = tmp_path / "down.db"
    with FakeServer(github) as server:
        server.fault("502", "", times=99)
        result = mine(server, db, "vllm", "--retries", 2)
    assert result.exit_code == 1
    assert "still failing after 2 retries" in result.output
    assert not db.exists()


def test_unknown_repository_and_bad_token_fail_with_one_line(tmp_path):
    good = fake_token("the-only-good-one")
    with FakeServer(FakeGitHub(), tokens={good}) as server:
        missing = mine(server, tmp_path / "a.db", "nobody/nothing", token=good)
        refused = mine(server, tmp_path / "b.db", "vllm")
    assert missing.exit_code == 1 and "error: nobody/nothing repository: not found (HTTP 404)" in missing.output
    assert refused.exit_code == 1 and "HTTP 401 (bad or expired token?): Bad credentials" in refused.output
    assert TOKEN not in refused.output
    assert not (tmp_path / "a.db").exists() and not (tmp_path / "b.db").exists()  # no empty store left


def test_token_never_printed_logged_or_stored(github, tmp_path, caplog):
    db = tmp_path / "secret.db"
    caplog.set_level(logging.DEBUG)  # PyGithub logs every request at DEBUG
    with FakeServer(github) as server:
        server.fault("502", r"/issues\?")
        server.fault("rate_limit", r"/timeline", nth=2, seconds=1)
        server.fault("truncated", r"/issues\?.*page=2", times=99)
        result = mine(server, db, "vllm", "--comments", "--retries", 1)
        seen_by_server = {e.token for e in server.log}
    assert seen_by_server == {TOKEN}  # the token was really used ...
    assert result.exit_code == 1 and "error:" in result.output
    assert "GET" in caplog.text  # ... the library did log the requests ...
    assert TOKEN not in result.output and TOKEN not in caplog.text  # ... and it appears nowhere
    for path in tmp_path.iterdir():
        assert TOKEN.encode() not in path.read_bytes(), path.name
    assert snapshot(db)  # the store was written (page 1), so the grep above had something to search
