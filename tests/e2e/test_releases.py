"""Release coordination end to end: signed Slack requests over HTTP to the running bot,
whose Web API calls land in the local workspace."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.e2e.conftest import Stack

REL = "C0RELEASES"
REQ, AP1, AP2, VIEWER = "U0REQUEST", "U0APPROVE1", "U0APPROVE2", "U0VIEWER"


def announcement(stack: Stack, version: str) -> dict[str, Any]:
    """The bot's announcement for ``version`` once it has been posted."""
    return stack.ws.wait_for(
        lambda: next((m for m in stack.bot_messages(REL) if m["blocks"]
                      and m["blocks"][0].get("text", {}).get("text", "").endswith(version)), None),
        what=f"the announcement of {version}")


def block_text(message: dict[str, Any]) -> str:
    """All the text a reader sees in a message's blocks."""
    return json.dumps(message["blocks"], ensure_ascii=False)


def start(stack: Stack, text: str, user: str = REQ) -> dict[str, Any]:
    """Run `/release start ...` and return the announcement."""
    resp = stack.ws.command(user, REL, "/release", f"start {text}")
    assert resp.status_code == 200, resp.text
    return announcement(stack, text.split()[0])


def release(stack: Stack, version: str) -> dict[str, Any]:
    """The release as the JSON API shows it."""
    resp = stack.api(f"/api/releases/{version}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def told(stack: Stack, user: str, needle: str) -> str:
    """Wait for an ephemeral message to ``user`` containing ``needle``; return its text."""
    found = stack.ws.wait_for(lambda: [m for m in stack.ws.ephemerals(user) if needle in m["text"]],
                              what=f"an ephemeral to {user} saying {needle!r}")
    return found[-1]["text"]


def test_start_posts_a_complete_announcement(stack: Stack) -> None:
    resp = stack.ws.command(REQ, REL, "/release", "start v2.4.0 risk=high type=major Faster checkout")
    assert resp.json()["response_type"] == "ephemeral"
    assert "v2.4.0 started" in resp.json()["text"]
    msg = announcement(stack, "v2.4.0")
    text = block_text(msg)
    for expected in ("Faster checkout", "major", "high", "Deployment plan", "Production canary 5%",
                     "Canary deployment", "Feature flags", "Rollback plan ready", "Pre-release validation",
                     "Post-deployment verification", "Approvals*\\n0/2", "Validation status"):
        assert expected in text, expected
    assert msg["text"].startswith("Release v2.4.0")  # the notification fallback
    buttons = [e["action_id"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["release_promote", "release_approve", "release_reject", "release_checklist",
                       "release_rollback"]
    rollback = next(e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]
                    if e["action_id"] == "release_rollback")
    assert rollback["style"] == "danger" and "confirm" in rollback
    thread = stack.ws.wait_for(lambda: stack.ws.thread(REL, msg["ts"])[1:], what="the timeline thread")
    assert "Release started by <@U0REQUEST>" in thread[0]["text"]
    body = release(stack, "v2.4.0")
    assert (body["status"], body["stage"], body["risk"], body["requested_by"]) == ("active", "dev", "high", REQ)
    assert body["approvals"] == []


def test_four_eyes_approval_then_promotion_to_production(stack: Stack) -> None:
    msg = start(stack, "v3.0.0 risk=high")
    ts = msg["ts"]
    # The requester may never approve their own release; the click changes nothing.
    stack.ws.click(REQ, REL, ts, "release_approve")
    told(stack, REQ, "You started v3.0.0")
    # Neither may someone who is not an approver.
    stack.ws.click(VIEWER, REL, ts, "release_approve")
    told(stack, VIEWER, "Only approvers")
    assert release(stack, "v3.0.0")["approvals"] == []

    stack.ws.click(REQ, REL, ts, "release_promote")  # dev -> staging needs no approval
    stack.ws.wait_for(lambda: release(stack, "v3.0.0")["stage"] == "staging")
    stack.settle()
    stack.ws.click(REQ, REL, ts, "release_promote")  # staging -> canary needs 2 approvals
    told(stack, REQ, "needs 2 approvals")
    assert release(stack, "v3.0.0")["stage"] == "staging"

    stack.ws.click(AP1, REL, ts, "release_approve")
    stack.ws.click(AP2, REL, ts, "release_approve")
    body = release(stack, "v3.0.0")
    assert [a["user"] for a in body["approvals"]] == [AP1, AP2]
    stack.settle()
    updated = stack.ws.wait_for(lambda: stack.store.message(REL, ts))
    assert "Approvals*\\n2/2" in block_text(updated)
    assert "Approved by <@U0APPROVE1>" in block_text(updated)

    for stage in ("canary", "production"):
        stack.ws.click(REQ, REL, ts, "release_promote")
        stack.ws.wait_for(lambda stage=stage: release(stack, "v3.0.0")["stage"] == stage)
        stack.settle()
    body = release(stack, "v3.0.0")
    assert body["status"] == "completed" and body["production_at"]
    # One announcement, updated in place; the timeline is in its thread.
    assert len([m for m in stack.bot_messages(REL) if m["blocks"]]) == 1
    final = stack.store.message(REL, ts)
    assert "completed" in final["text"] and "Production 100%" in final["text"]
    timeline = " ".join(m["text"] for m in stack.ws.thread(REL, ts)[1:])
    for line in ("Promoted to *Staging*", "Approved by <@U0APPROVE2>", "Promoted to *Production 100%*"):
        assert line in timeline
    assert stack.ws.calls("chat.update")


def test_rollback_needs_a_reason_and_an_approver(stack: Stack) -> None:
    msg = start(stack, "v4.1.0 risk=low")
    resp = stack.ws.command(AP1, REL, "/release", "rollback v4.1.0")
    assert "needs a reason" in resp.json()["text"]
    resp = stack.ws.command(VIEWER, REL, "/release", "rollback v4.1.0 it broke")
    assert "Only an approver" in resp.json()["text"]
    assert release(stack, "v4.1.0")["status"] == "active"

    # A non-approver's click is refused at once, before any form.
    stack.ws.click(VIEWER, REL, msg["ts"], "release_rollback")
    told(stack, VIEWER, "Only an approver may roll back")
    assert stack.ws.open_views(VIEWER) == []
    # The button asks Slack to confirm, then the bot asks for the reason in a modal.
    stack.ws.click(AP1, REL, msg["ts"], "release_rollback")
    view = stack.ws.wait_for(lambda: stack.ws.open_views(AP1), what="the reason modal")[-1]
    resp = stack.ws.submit_view(AP1, view["id"], {"reason": "   "})
    assert resp.json()["response_action"] == "errors"
    assert release(stack, "v4.1.0")["status"] == "active"
    stack.ws.submit_view(AP1, view["id"], {"reason": "Error rate doubled <!channel>"})
    body = release(stack, "v4.1.0")
    assert body["status"] == "rolled_back"
    assert body["rollback_reason"] == "Error rate doubled <!channel>"
    notice = stack.ws.wait_for(lambda: [m for m in stack.bot_messages(REL) if "rolled back by" in m["text"]])
    assert "Error rate doubled &lt;!channel&gt;" in notice[0]["text"]
    assert "<!channel>" not in notice[0]["text"]
    # A rolled-back release goes nowhere.
    resp = stack.ws.command(REQ, REL, "/release", "promote v4.1.0")
    assert "rolled back; it cannot be promoted" in resp.json()["text"]


def test_start_modal_and_checklist(stack: Stack) -> None:
    resp = stack.ws.command(REQ, REL, "/release", "")
    assert resp.status_code == 200
    view = stack.ws.wait_for(lambda: stack.ws.open_views(REQ), what="the start modal")[-1]
    resp = stack.ws.submit_view(REQ, view["id"], {"version": "bad version!", "type": "patch", "risk": "low"})
    assert resp.json()["response_action"] == "errors" and "version" in resp.json()["errors"]
    stack.ws.submit_view(REQ, view["id"], {"version": "v5.0.1", "type": "patch", "risk": "low",
                                           "summary": "Fix login", "rollback_plan": "Redeploy v5.0.0"})
    msg = announcement(stack, "v5.0.1")
    assert "Redeploy v5.0.0" in block_text(msg)

    stack.ws.click(REQ, REL, msg["ts"], "release_checklist")
    checklist = stack.ws.wait_for(lambda: stack.ws.open_views(REQ), what="the checklist modal")[-1]
    stack.ws.submit_view(REQ, checklist["id"], {"s0": ["tests_pass", "security_scan"]})
    stack.settle()
    updated = stack.store.message(REL, msg["ts"])
    assert "☑ Tests pass" in block_text(updated) and "☐ Performance checked" in block_text(updated)
    assert release(stack, "v5.0.1")["checklist"] == ["security_scan", "tests_pass"]


def test_malformed_commands_create_nothing(stack: Stack) -> None:
    cases = {
        "start risk=high": "Usage",
        "start " + "v" * 3000: "3,000 characters",
        "start " + "v" * 5000: "the limit is 4,000",
        "start v1.0.0 risk=extreme": "Unknown risk `extreme`",
        "start v1.0.0 type=huge": "Unknown type",
        "start v1.0.0 incident=abc": "incident number",
        "start v1.0.0 severity=P1": "Only a hotfix",
        "start v1.0.0 type=hotfix": "needs a severity",
        "deploy v1.0.0": "Unknown subcommand `deploy`",
        "promote": "Usage",
        "promote v9.9.9": "There is no release v9.9.9",
    }
    for text, expected in cases.items():
        resp = stack.ws.command(REQ, REL, "/release", text)
        assert resp.status_code == 200
        body = resp.json()
        assert body["response_type"] == "ephemeral" and expected in body["text"], (text, body)
    assert stack.api("/api/releases").json()["releases"] == []
    assert stack.bot_messages(REL) == []


def test_user_text_cannot_ping_or_forge_links(stack: Stack) -> None:
    msg = start(stack, "v6.0.0 <!channel> <!here> see <https://evil.example|the docs>")
    text = block_text(msg)
    assert "<!channel>" not in text and "<!here>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt;" in text and "&lt;https://evil.example|the docs&gt;" in text


def test_bad_or_stale_signature_is_refused(stack: Stack) -> None:
    body = "command=%2Frelease&text=start+v7.0.0&user_id=U0REQUEST&channel_id=C0RELEASES&trigger_id=t1"
    wrong = stack.ws.signed_headers(body)
    wrong["X-Slack-Signature"] = "v0=" + "0" * 64
    stale = stack.ws.signed_headers(body, timestamp=str(int(time.time()) - 600))
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    for headers in (wrong, stale, unsigned):
        resp = httpx.post(stack.ws.bot_events_url, content=body, headers=headers, timeout=5)
        assert resp.status_code == 401
    # The same body correctly signed is accepted, so the refusals above were the signature's doing.
    assert stack.ws.post_to_bot(body).status_code == 200
    assert [r["version"] for r in stack.api("/api/releases").json()["releases"]] == ["v7.0.0"]


def test_api_needs_its_token(stack: Stack) -> None:
    assert stack.api("/api/releases", token=None).status_code == 401
    assert stack.api("/api/releases", token="wrong").status_code == 401
    resp = stack.api("/api/releases/v0.0.404")
    assert resp.status_code == 404 and "no release" in resp.json()["error"]


def test_approvers_from_a_user_group(make_stack) -> None:
    stack = make_stack(WARROOM_APPROVERS="S0APPROVERS")
    msg = start(stack, "v8.0.0 risk=low")
    stack.ws.click(AP2, REL, msg["ts"], "release_approve")
    assert [a["user"] for a in release(stack, "v8.0.0")["approvals"]] == [AP2]
    assert stack.ws.calls("usergroups.users.list")
    stack.ws.click(VIEWER, REL, msg["ts"], "release_approve")
    told(stack, VIEWER, "Only approvers")


def test_slack_rate_limits_are_retried(stack: Stack) -> None:
    stack.store.set_ratelimit(2)
    msg = start(stack, "v9.0.0")
    assert msg["ts"]
    stack.settle(timeout=10)
    assert not [m for m in stack.outbox() if m.failed]


def test_reject_with_a_reason_ends_the_release(stack: Stack) -> None:
    msg = start(stack, "v4.2.0 risk=medium")
    stack.ws.click(REQ, REL, msg["ts"], "release_reject")
    told(stack, REQ, "You started v4.2.0, so you cannot reject it")
    stack.ws.click(AP2, REL, msg["ts"], "release_reject")
    view = stack.ws.wait_for(lambda: stack.ws.open_views(AP2), what="the reject form")[-1]
    stack.ws.submit_view(AP2, view["id"], {"reason": "Missing migration plan"})
    assert release(stack, "v4.2.0")["status"] == "rejected"
    stack.settle()
    final = stack.store.message(REL, msg["ts"])
    assert "rejected" in final["text"]
    assert not [b for b in final["blocks"] if b["type"] == "actions"]  # nothing left to click
    timeline = " ".join(m["text"] for m in stack.ws.thread(REL, msg["ts"])[1:])
    assert "Rejected by <@U0APPROVE2>. Reason: Missing migration plan" in timeline
