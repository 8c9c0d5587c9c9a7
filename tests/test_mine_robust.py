"""Bad settings, refused tokens, items deleted mid-run, trickling bodies and plain progress lines."""
import io
import time

import pytest
from click.testing import CliRunner
from rich.console import Console

from enginebugs.mining.progress import Reporter
from tests.github_fake import FakeServer
from tests.github_fake.harness import TOKEN, fake_token, mine, mined, snapshot, upstream

VLLM = "vllm-project/vllm"


@pytest.fixture(scope="module")
def github():
    return upstream(21, 24)


@pytest.fixture(scope="module")
def clean(github, tmp_path_factory):
    return mined(github, tmp_path_factory.mktemp("clean") / "clean.db", "vllm")[0]


def test_api_url_without_scheme_is_one_error_line(tmp_path):
    from enginebugs.cli import main

    db = tmp_path / "x.db"
    result = CliRunner().invoke(main, ["mine", "vllm", "--api-url", "127.0.0.1:9/api/v3", "--db", str(db)],
                                env={"GITHUB_TOKEN": TOKEN})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --api-url must be an http(s) URL such as https://api.github.com or https://HOST/api/v3, "
        "not '127.0.0.1:9/api/v3'"]
    assert not db.exists()


def test_an_expired_token_in_a_rotation_is_dropped(github, clean, tmp_path):
    expired, valid = fake_token("expired"), fake_token("valid")
    db = tmp_path / "rotation.db"
    with FakeServer(github, tokens={valid}) as server:
        result = mine(server, db, "vllm", token=f"{expired},{valid}")
        used = [e.token for e in server.log]
    assert result.exit_code == 0, result.output
    assert used.count(expired) == 1 and used[1:] == [valid] * (len(used) - 1)  # refused once, then never used
    assert "token 1 refused (HTTP 401, bad or expired): dropped, 1 left" in result.output
    assert expired not in result.output and valid not in result.output
    assert snapshot(db) == clean


def test_an_issue_deleted_mid_run_is_one_outcome_and_the_run_goes_on(github, clean, tmp_path):
    numbers = sorted(r["number"] for r in clean.values())
    gone, missing = numbers[3], numbers[7]
    db = tmp_path / "gone.db"
    timelines = github.repo(VLLM).timelines
    saved = timelines.pop(missing)  # 404 on its timeline
    try:
        with FakeServer(github) as server:
            server.fault("gone", rf"/issues/{gone}/timeline")  # 410, as for an issue deleted after listing
            result = mine(server, db, "vllm")
    finally:
        timelines[missing] = saved
    assert result.exit_code == 0, result.output
    assert "22 new, 0 updated, 0 unchanged, 0 skipped, 2 unreachable" in result.output
    stored = {r["number"]: r for r in snapshot(db).values()}
    assert "gone (HTTP 410)" in stored[gone]["extra"]["unreachable"]
    assert "not found (HTTP 404)" in stored[missing]["extra"]["unreachable"]
    assert {n: r for n, r in stored.items() if n not in (gone, missing)} == {
        r["number"]: r for r in clean.values() if r["number"] not in (gone, missing)}


def test_timeout_bounds_a_body_that_trickles(github, clean, tmp_path):
    db = tmp_path / "trickle.db"
    with FakeServer(github) as server:
        server.fault("trickle", r"/issues\?", seconds=0.2)  # 64 bytes every 0.2 s: each read is quick
        start = time.monotonic()
        result = mine(server, db, "vllm", "--no-fixes")  # --timeout 1
        seconds = time.monotonic() - start
    assert result.exit_code == 0, result.output
    assert "issues page 1: Timeout; retry 1/5" in result.output
    assert seconds < 5
    assert len(snapshot(db)) == len(clean)


def test_a_failed_run_keeps_an_existing_store(github, tmp_path):
    db = tmp_path / "kept.db"
    with FakeServer(github) as server:
        assert mine(server, db, "vllm", "--no-fixes").exit_code == 0
        github.edit_issue(VLLM, 1, title="Synthetic bug, edited")
        server.fault("502", "", times=99)
        failed = mine(server, db, "vllm", "--retries", 0)
    assert failed.exit_code == 1 and db.exists() and len(snapshot(db)) == 24


def test_plain_progress_lines_when_stderr_is_not_a_terminal(github, tmp_path):
    with FakeServer(github) as server:
        result = mine(server, tmp_path / "p.db", "vllm", "--progress-every", 0)
    lines = [line for line in result.output.splitlines() if line.startswith("progress: ")]
    assert len(lines) == 24  # one per issue at --progress-every 0
    assert lines[-1].startswith("progress: vllm-project/vllm: page 1/1, 24/24 issues, ")
    assert "/s" in lines[-1] and "quota core " in lines[-1] and "requests" in lines[-1]
    assert "ETA" in lines[0]


@pytest.mark.parametrize("terminal, expected", [(False, 1), (True, 0)])
def test_heartbeat_is_for_non_terminals_and_rate_limited(terminal, expected):
    out = io.StringIO()
    reporter = Reporter(Console(file=out, force_terminal=terminal), every=60)
    reporter._last_line -= 61
    for _ in range(5):
        reporter.heartbeat(lambda: "3/9 issues")
    assert out.getvalue().count("progress: 3/9 issues") == expected
