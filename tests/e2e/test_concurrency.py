"""Double clicks, simultaneous approvers and re-delivered requests never record twice or skip
a stage (compare-and-set on the release row), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from tests.e2e.conftest import Stack
from tests.e2e.test_releases import AP1, AP2, REL, REQ, release, start, told


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at the same instant; return their results."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def click_payload(version: str, stage: str, user: str, action_id: str, action_ts: str) -> str:
    """A block_actions body as Slack sends it (fixed action_ts, as in a re-delivery)."""
    payload = {
        "type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": "T0SANDBOX"},
        "api_app_id": "A0WARROOM", "token": "t", "trigger_id": f"trigger-{action_ts}",
        "team": {"id": "T0SANDBOX"}, "channel": {"id": REL, "name": "releases"},
        "container": {"type": "message", "channel_id": REL, "message_ts": "1.000001"},
        "response_url": "http://127.0.0.1:9/unused",
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "action_ts": action_ts,
                     "value": json.dumps({"v": version, "s": stage})}],
    }
    return urlencode({"payload": json.dumps(payload)})


def test_two_approvers_at_the_same_moment(stack: Stack) -> None:
    msg = start(stack, "v1.0.0 risk=high")
    results = at_once(lambda: stack.ws.click(AP1, REL, msg["ts"], "release_approve"),
                      lambda: stack.ws.click(AP2, REL, msg["ts"], "release_approve"))
    assert [r.status_code for r in results] == [200, 200]
    body = release(stack, "v1.0.0")
    assert sorted(a["user"] for a in body["approvals"]) == [AP1, AP2]
    stack.settle()
    assert "Approvals*\\n2/2" in json.dumps(stack.store.message(REL, msg["ts"])["blocks"])


def test_double_click_records_one_approval(stack: Stack) -> None:
    msg = start(stack, "v1.1.0 risk=high")
    at_once(*[lambda: stack.ws.click(AP1, REL, msg["ts"], "release_approve") for _ in range(4)])
    assert [a["user"] for a in release(stack, "v1.1.0")["approvals"]] == [AP1]
    told(stack, AP1, "You approved v1.1.0 already")


def test_redelivered_click_is_applied_once(stack: Stack) -> None:
    start(stack, "v1.2.0 risk=low")
    body = click_payload("v1.2.0", "dev", AP1, "release_approve", f"{time.time():.6f}")
    first, again = stack.ws.post_to_bot(body), stack.ws.post_to_bot(body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert [a["user"] for a in release(stack, "v1.2.0")["approvals"]] == [AP1]
    stack.settle()
    # The re-delivery is silent: no "already approved" complaint for a click the user made once.
    assert not [m for m in stack.ws.ephemerals(AP1) if "already" in m["text"]]


def test_concurrent_promote_clicks_move_one_stage(stack: Stack) -> None:
    msg = start(stack, "v1.3.0 risk=low")
    at_once(*[lambda: stack.ws.click(REQ, REL, msg["ts"], "release_promote") for _ in range(5)])
    body = release(stack, "v1.3.0")
    assert body["stage"] == "staging"
    with stack.runtime.services.db.read() as s:  # type: ignore[union-attr]
        from sqlmodel import select

        from storage.models import AuditEntry
        promotions = s.exec(select(AuditEntry).where(AuditEntry.action == "promote")).all()
    assert [(p.from_state, p.to_state) for p in promotions] == [("active:dev", "active:staging")]


def test_redelivered_command_is_applied_once(stack: Stack) -> None:
    form = {"command": "/release", "text": "start v1.4.0", "user_id": REQ, "channel_id": REL,
            "trigger_id": "trigger-fixed-1", "team_id": "T0SANDBOX"}
    body = urlencode(form)
    assert stack.ws.post_to_bot(body).status_code == 200
    assert stack.ws.post_to_bot(body).status_code == 200
    assert [r["version"] for r in stack.api("/api/releases").json()["releases"]] == ["v1.4.0"]
    stack.settle()
    assert len([m for m in stack.bot_messages(REL) if m["blocks"]]) == 1
