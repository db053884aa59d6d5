"""Slack failing under the bot, over HTTP: an outage (503, then connections refused), 429s
on one channel, and forms opening while the queue is rate limited."""

from __future__ import annotations

import time

from sqlmodel import col, select

from storage.models import OutboxMessage
from tests.e2e.test_incidents import declare, status_updates
from tests.e2e.test_releases import REL, REQ
from tests.faults.conftest import FaultStack, posted_texts

INC = "C0INCIDENTS"


def _announced(stack: FaultStack, channel: str) -> list[str]:
    """Release versions announced in ``channel``, in the order the messages appeared."""
    out = []
    for m in stack.bot_messages(channel):
        head = (m.get("blocks") or [{}])[0].get("text", {}).get("text", "")
        if head.startswith(("Release", ":")) or " v" in head:
            out.append(head.split()[-1])
    return out


def test_outage_then_recovery_delivers_everything_once_in_order(make_fault_stack) -> None:
    stack: FaultStack = make_fault_stack(WARROOM_STATUS_INTERVAL="2")
    _, room = declare(stack)
    stack.ws.wait_for(lambda: status_updates(stack, room), timeout=10, what="a first status update")

    stack.faults.mode = "503"  # Slack answers 503 ...
    versions = ["v1.0.0", "v3.0.0", "v5.0.0", "v7.0.0"]
    for version in versions:
        resp = stack.ws.command(REQ, REL, "/release", f"start {version} risk=low")
        assert resp.status_code == 200 and "started" in resp.json()["text"]
    stack.ws.wait_for(lambda: len(stack.faults.calls("chat.postMessage")) > 2 and
                      any(m.attempts > 1 for m in stack.outbox()), timeout=15, what="retries during the 503s")
    before_outage = len(status_updates(stack, room))
    stack.stop_proxy()  # ... then refuses connections
    time.sleep(5)  # two cadence intervals pass: their status updates queue up
    assert _announced(stack, REL) == []
    assert not [m for m in stack.outbox() if m.failed]  # nothing given up while Slack is away

    stack.faults.mode = "ok"
    stack.start_proxy()  # Slack is back
    stack.ws.wait_for(lambda: len(_announced(stack, REL)) == 4, timeout=45, what="the four announcements")
    # In the order they were started, each once.
    assert _announced(stack, REL) == versions
    stack.ws.wait_for(lambda: sum("Release started by" in t for t in posted_texts(stack, REL)) >= 4, timeout=30,
                      what="the thread replies")
    # Every thread reply once, in its own release's thread.
    for message in stack.bot_messages(REL):
        replies = [m for m in stack.ws.thread(REL, message["ts"]) if m["ts"] != message["ts"]]
        assert [r["text"].split(" at ")[0] for r in replies].count("Release started by <@U0REQUEST>") == 1
    # The war room got one catch-up, not the backlog: the queued stale updates were superseded.
    stack.ws.wait_for(lambda: len(status_updates(stack, room)) > before_outage, timeout=30, what="the catch-up")
    assert any(m.last_error == "superseded" and m.store_as and m.store_as.endswith(":status")
               for m in stack.outbox())
    stack.settle(timeout=30)
    assert not [m for m in stack.outbox() if m.failed]


def test_429_on_one_channel_while_others_flow(make_fault_stack) -> None:
    stack: FaultStack = make_fault_stack()
    stack.faults.ratelimited = {REL}
    stack.faults.retry_after = 2
    assert stack.ws.command(REQ, REL, "/release", "start v1.0.0 risk=low").status_code == 200
    stack.ws.wait_for(lambda: stack.faults.calls("chat.postMessage", REL), timeout=10, what="a 429 on #releases")
    t0 = time.monotonic()
    for version in ("v2.0.0", "v3.0.0"):
        assert stack.ws.command(REQ, INC, "/release", f"start {version} risk=low").status_code == 200
    # The other channel flows while #releases waits out its Retry-After.
    stack.ws.wait_for(lambda: _announced(stack, INC) == ["v2.0.0", "v3.0.0"], timeout=5,
                      what="the announcements in the other channel")
    assert time.monotonic() - t0 < 5
    assert _announced(stack, REL) == []
    time.sleep(3)
    tries = stack.faults.calls("chat.postMessage", REL)
    # Retry-After is honoured: no retry comes sooner (nothing retries inside the SDK).
    assert all(b - a >= 1.9 for a, b in zip(tries, tries[1:], strict=False)), tries
    stack.faults.ratelimited = set()
    stack.ws.wait_for(lambda: _announced(stack, REL) == ["v1.0.0"], timeout=10, what="the held announcement")


def test_a_form_opens_at_once_while_a_thousand_messages_wait_on_429(make_fault_stack) -> None:
    stack: FaultStack = make_fault_stack()
    stack.faults.ratelimited = {"*"}
    assert stack.runtime
    with stack.runtime.services.db.transaction() as tx:
        for i in range(1000):
            tx.send("post", channel=f"C0LOAD{i % 200:03d}", text=f"queued {i}")
    stack.ws.wait_for(lambda: len(stack.faults.calls("chat.postMessage")) > 20, timeout=10,
                      what="the queue hitting 429s")
    t0 = time.monotonic()
    resp = stack.ws.command(REQ, REL, "/release", "")  # no arguments: the start form
    assert resp.status_code == 200
    stack.ws.wait_for(lambda: stack.ws.open_views(REQ), timeout=5, what="the start form")
    assert time.monotonic() - t0 < 1.0
    with stack.runtime.services.db.read() as s:
        pending = s.exec(select(OutboxMessage).where(col(OutboxMessage.sent_at).is_(None))).all()
    assert len(pending) >= 900 and not [m for m in pending if m.failed]
