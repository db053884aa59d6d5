"""Rows Slack refuses for good are failed at once, listed (CLI and API) and can be retried."""

from __future__ import annotations

from tests.faults.conftest import FaultStack
from tests.test_cli import warroom


def test_a_permanent_error_fails_the_row_which_can_be_listed_and_retried(make_fault_stack) -> None:
    stack: FaultStack = make_fault_stack()
    assert stack.runtime
    with stack.runtime.services.db.transaction() as tx:
        tx.send("post", channel="C0NOSUCHCHANNEL", text="into the void")
        tx.send("post", channel="C0RELEASES", text="delivered")
    stack.ws.wait_for(lambda: any(m.failed for m in stack.outbox()), timeout=10, what="the failed row")
    failed = [m for m in stack.outbox() if m.failed]
    assert len(failed) == 1 and failed[0].last_error == "channel_not_found" and failed[0].attempts == 1
    stack.ws.wait_for(lambda: any(m["text"] == "delivered" for m in stack.bot_messages("C0RELEASES")),
                      what="the other channel's message")

    # The read scope lists it; without a token, nothing.
    assert stack.api("/api/outbox?state=failed", token=None).status_code == 401
    listed = stack.api("/api/outbox?state=failed").json()["outbox"]
    assert [(r["id"], r["op"], r["order_key"], r["last_error"]) for r in listed] == [
        (failed[0].id, "post", "C0NOSUCHCHANNEL", "channel_not_found")]
    assert stack.api("/api/outbox?state=bogus").status_code == 400

    env = {"DATABASE_URL": stack.database_url}
    done = warroom("outbox", "list", "--failed", **env)
    assert done.returncode == 0, done.stderr
    assert f"{failed[0].id}\tpost\tC0NOSUCHCHANNEL" in done.stdout and "channel_not_found" in done.stdout
    assert warroom("outbox", "retry", **env).returncode == 1  # names nothing: a usage error

    # A retry puts it back in the queue: it is tried again (and here refused again).
    assert len(stack.faults.calls("chat.postMessage", "C0NOSUCHCHANNEL")) == 1
    done = warroom("outbox", "retry", str(failed[0].id), **env)
    assert done.returncode == 0 and "1 row(s) queued again" in done.stdout
    stack.ws.wait_for(lambda: len(stack.faults.calls("chat.postMessage", "C0NOSUCHCHANNEL")) == 2, timeout=10,
                      what="the retried row tried again")
    stack.ws.wait_for(lambda: [m for m in stack.outbox() if m.failed], timeout=10, what="the row failed again")
    done = warroom("outbox", "retry", "--all", **env)
    assert done.returncode == 0 and "1 row(s) queued again" in done.stdout
