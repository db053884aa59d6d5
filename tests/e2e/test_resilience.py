"""A Slack outage never loses a state change or a message: the outbox delivers when Slack is back."""

from __future__ import annotations

from slackbox import serve_in_thread
from tests.e2e.conftest import Stack
from tests.e2e.test_releases import REL, REQ, release


def test_messages_wait_out_a_slack_outage(stack: Stack) -> None:
    port = stack.workspace.handle.port
    stack.workspace.handle.stop()  # Slack's Web API is unreachable from here on
    resp = stack.ws.command(REQ, REL, "/release", "start v1.0.0 risk=low")
    assert resp.status_code == 200 and "started" in resp.json()["text"]  # the ack never waited for Slack
    assert release(stack, "v1.0.0")["status"] == "active"  # the state change is kept
    stack.ws.wait_for(lambda: any(m.attempts for m in stack.outbox()), timeout=20,
                     what="a failed delivery attempt")
    assert stack.bot_messages(REL) == []

    stack.workspace.handle = serve_in_thread(stack.workspace.app, port=port)  # Slack is back
    posted = stack.ws.wait_for(lambda: [m for m in stack.bot_messages(REL) if m["blocks"]], timeout=15,
                               what="the announcement after the outage")
    assert len(posted) == 1 and "v1.0.0" in posted[0]["text"]
    stack.settle(timeout=15)
    assert not [m for m in stack.outbox() if m.failed]
