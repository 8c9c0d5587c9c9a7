"""Pure parts of the miner: closing keywords, dates, rate-limit bookkeeping, gap-free cursors, countdown."""
import io

import pytest
from rich.console import Console

from enginebugs.mining import parse
from enginebugs.mining.checkpoint import Listing
from enginebugs.mining.errors import MalformedResponse
from enginebugs.mining.progress import Reporter
from enginebugs.mining.quota import TokenPool

NAMES = ("ggml-org/llama.cpp", "ggerganov/llama.cpp")


@pytest.mark.parametrize("text", [
    "Fixes #12", "fixed #12.", "This closes: #12", "RESOLVES #12", "resolved ggerganov/llama.cpp#12",
    "fix https://github.com/ggml-org/llama.cpp/issues/12 now", "line one\nCloses #7, closes #12",
])
def test_closing_keywords_are_recognised(text):
    assert parse.closes(text, 12, NAMES)


@pytest.mark.parametrize("text", [
    "Fixes #123", "Fixes #1", "See #12", "prefixes #12", "Fixes other/repo#12", "fixes #12a", None, "",
])
def test_mentions_that_do_not_close_this_issue_are_ignored(text):
    assert not parse.closes(text, 12, NAMES)


def test_dates_and_time_to_fix():
    assert parse.user_date("2024-12-31") == "2024-12-31T00:00:00Z"
    assert parse.user_date("2024-12-31", end_of_day=True) == "2024-12-31T23:59:59Z"
    assert parse.user_date("2024-12-31T10:00:00+02:00") == "2024-12-31T08:00:00Z"
    record = {"created_at": "2024-01-01T00:00:00Z", "closed_at": "2024-01-03T00:00:00Z", "extra": {}}
    assert parse.time_to_fix(record) == (2.0, "closed")
    assert parse.time_to_fix({**record, "fix_merged_at": "2024-01-01T12:00:00Z"}) == (0.5, "fix_merged")
    assert parse.time_to_fix({**record, "extra": {"state_reason": "not_planned"}}) == (None, None)


def test_malformed_issue_pages_name_the_item():
    with pytest.raises(MalformedResponse, match="page 3: expected a JSON list"):
        parse.issue_list({"message": "x"}, "page 3")
    with pytest.raises(MalformedResponse, match="page 3, item 2: missing updated_at"):
        parse.issue_list([{k: 1 for k in parse.ISSUE_KEYS}, {"number": 1, "html_url": "u", "title": "t",
                                                             "state": "open", "created_at": "c"}], "page 3")


def test_pool_prefers_the_token_with_most_quota_and_waits_when_all_are_low():
    pool = TokenPool(["a", "b"], min_quota=10)
    now = 1000.0
    first, wait = pool.pick("core", now)
    assert (first.client, wait) == ("a", 0.0)  # nothing known yet
    pool.observe(first, "core", {"x-ratelimit-remaining": "3", "x-ratelimit-limit": "5000",
                                 "x-ratelimit-reset": "1100"})
    second, _ = pool.pick("core", now)
    assert second.client == "b"  # a is low
    pool.observe(second, "core", {"x-ratelimit-remaining": "5", "x-ratelimit-limit": "5000",
                                  "x-ratelimit-reset": "1050"})
    soonest, wait = pool.pick("core", now)
    assert soonest.client == "b" and wait == pytest.approx(51.0)  # both low: wait for the earlier reset
    assert pool.pick("core", 1051.0) == (soonest, 0.0)  # after the reset it is usable again
    assert pool.pick("search", now)[1] == 0.0  # other resources have their own quota
    small = TokenPool(["s"], min_quota=50)
    small.observe(small.slots[0], "search", {"x-ratelimit-remaining": "4", "x-ratelimit-limit": "30",
                                             "x-ratelimit-reset": "1100"})
    assert small.pick("search", now)[1] == 0.0  # the threshold scales down to small limits (30 -> 3)


def test_cursor_steps_back_when_an_issue_changed_during_the_listing():
    quiet = Listing()
    quiet.page_fetched({"date": "Mon, 01 Jan 2024 12:00:00 GMT"})
    for stamp in ("2023-01-01T00:00:00Z", "2023-06-01T00:00:00Z"):
        quiet.item_seen(stamp)
    assert quiet.safe_cursor() == "2023-06-01T00:00:00Z"

    busy = Listing(cursor="2022-01-01T00:00:00Z")
    busy.page_fetched({"date": "Mon, 01 Jan 2024 12:00:00 GMT"})
    busy.item_seen("2023-01-01T00:00:00Z")
    busy.page_fetched({"date": "Mon, 01 Jan 2024 12:00:05 GMT"})
    busy.item_seen("2023-02-01T00:00:00Z")
    busy.page_fetched({"date": "Mon, 01 Jan 2024 12:00:09 GMT"})
    busy.item_seen("2024-01-01T12:00:07Z")  # edited while the listing ran: items may have shifted pages
    assert busy.cursor == "2024-01-01T12:00:07Z"
    assert busy.safe_cursor() == "2023-02-01T00:00:00Z"  # from before the first page fetched after the edit


def test_countdown_shows_the_seconds_left():
    out = io.StringIO()
    slept = []
    reporter = Reporter(Console(file=out, force_terminal=True, width=100), sleep=slept.append)
    reporter.countdown(1.0, "rate limit")
    assert sum(slept) == pytest.approx(1.0) and len(slept) == 5
    text = out.getvalue()
    assert "rate limit: waiting 1 s" in text and "s left: rate limit" in text
