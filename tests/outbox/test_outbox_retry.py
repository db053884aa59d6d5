"""How the sender decides between trying again and giving up, and how long it waits."""

from __future__ import annotations

from urllib.error import URLError

from bot.errors import PermanentFailure, TemporaryFailure
from bot.gateway import SlackCallFailed
from bot.outbox_record import MAX_BACKOFF, backoff, classify, did_not_happen


def test_backoff_grows_is_jittered_and_never_exceeds_a_minute() -> None:
    waits = [backoff(n) for n in range(1, 40) for _ in range(20)]
    assert max(waits) <= MAX_BACKOFF and min(waits) > 0
    assert len({round(w, 3) for w in (backoff(10) for _ in range(50))}) > 10  # jittered
    assert max(backoff(1) for _ in range(50)) <= 1.0
    # Retry-After wins: the wait is what Slack asked for (plus a little jitter), even past a minute.
    assert all(90 <= backoff(3, 90) <= 90.25 for _ in range(20))


def test_only_permanent_errors_and_programming_errors_fail_at_once() -> None:
    assert classify(SlackCallFailed("chat.postMessage", "channel_not_found")) == (True, "channel_not_found", None)
    assert classify(SlackCallFailed("chat.postMessage", "ratelimited", retry_after=7, transient=True)) == (
        False, "ratelimited", 7)
    assert classify(SlackCallFailed("chat.postMessage", "http_503", transient=True))[0] is False
    assert classify(SlackCallFailed("chat.postMessage", "internal_error"))[0] is False  # unknown: retried
    assert classify(URLError(ConnectionRefusedError()))[0] is False
    assert classify(TimeoutError())[0] is False
    assert classify(TemporaryFailure("executor busy", retry_after=3)) == (False, "executor busy", 3)
    assert classify(PermanentFailure("unknown deployment"))[0] is True
    assert classify(KeyError("channel"))[0] is True


def test_a_timeout_or_a_5xx_leaves_doubt_whether_the_call_went_through() -> None:
    assert did_not_happen("ratelimited") and did_not_happen("channel_not_found")
    assert did_not_happen("unreachable: ConnectionRefusedError")
    assert not did_not_happen("unreachable: timeout") and not did_not_happen("http_504")
