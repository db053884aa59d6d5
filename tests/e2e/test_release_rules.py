"""Freeze windows, overrides, hotfixes, the audit trail and the read-only commands, end to end."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.e2e.conftest import Stack
from tests.e2e.test_releases import AP1, AP2, REL, REQ, VIEWER, block_text, release, start, told

TODAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[datetime.now(UTC).weekday()]


def to_staging(stack: Stack, version: str, ts: str) -> None:
    """Approve (one approver) and promote dev -> staging."""
    stack.ws.click(AP1, REL, ts, "release_approve")
    stack.ws.click(REQ, REL, ts, "release_promote")
    stack.ws.wait_for(lambda: release(stack, version)["stage"] == "staging")
    stack.settle()  # the buttons now name the next stage; a stale one would be refused


def test_freeze_blocks_production_unless_overridden(make_stack) -> None:
    stack = make_stack(WARROOM_FREEZE_DAYS=TODAY)
    msg = start(stack, "v1.0.0 risk=low")
    to_staging(stack, "v1.0.0", msg["ts"])
    stack.ws.click(REQ, REL, msg["ts"], "release_promote")
    told(stack, REQ, "Production deploys are frozen today")
    assert release(stack, "v1.0.0")["stage"] == "staging"
    stack.settle()
    assert "Production freeze today" in block_text(stack.store.message(REL, msg["ts"]))

    resp = stack.ws.command(VIEWER, REL, "/release", "override v1.0.0 customer outage fix")
    assert "Only approvers" in resp.json()["text"]
    resp = stack.ws.command(AP2, REL, "/release", "override v1.0.0")
    assert "needs a reason" in resp.json()["text"]
    resp = stack.ws.command(AP2, REL, "/release", "override v1.0.0 Payment provider deadline")
    assert "Freeze overridden" in resp.json()["text"]
    stack.ws.click(REQ, REL, msg["ts"], "release_promote")
    stack.ws.wait_for(lambda: release(stack, "v1.0.0")["stage"] == "canary")
    body = release(stack, "v1.0.0")
    assert body["freeze_override"]["by"] == AP2
    assert body["freeze_override"]["reason"] == "Payment provider deadline"
    audit = stack.api("/api/releases/v1.0.0/audit").json()["audit"]
    override = next(e for e in audit if e["action"] == "override_freeze")
    assert (override["actor"], override["reason"]) == (AP2, "Payment provider deadline")
    assert override["source"].startswith("slack:/release") and override["request_id"]


def test_emergency_hotfix_passes_the_freeze_and_starts_at_staging(make_stack) -> None:
    stack = make_stack(WARROOM_FREEZE_DAYS=TODAY)
    msg = start(stack, "v1.0.1 type=hotfix severity=P1 risk=medium")
    assert release(stack, "v1.0.1")["stage"] == "staging"
    stack.ws.click(AP1, REL, msg["ts"], "release_approve")
    stack.settle()
    stack.ws.click(REQ, REL, msg["ts"], "release_promote")
    stack.ws.wait_for(lambda: release(stack, "v1.0.1")["stage"] == "canary")
    # A P2 hotfix is no emergency: the freeze holds.
    msg2 = start(stack, "v1.0.2 type=hotfix severity=P2")
    stack.settle()
    stack.ws.click(AP1, REL, msg2["ts"], "release_approve")
    stack.ws.click(REQ, REL, msg2["ts"], "release_promote")
    told(stack, REQ, "frozen today")
    assert release(stack, "v1.0.2")["stage"] == "staging"


def test_every_step_is_audited(stack: Stack) -> None:
    msg = start(stack, "v2.0.0 risk=low")
    stack.ws.click(AP1, REL, msg["ts"], "release_approve")
    stack.ws.command(REQ, REL, "/release", "promote v2.0.0")
    stack.ws.command(AP2, REL, "/release", "rollback v2.0.0 smoke tests failed")
    audit = stack.api("/api/releases/v2.0.0/audit").json()["audit"]
    assert [(e["action"], e["actor"]) for e in audit] == [
        ("start", REQ), ("approve", AP1), ("promote", REQ), ("rollback", AP2)]
    assert audit[2]["from"] == "active:dev" and audit[2]["to"] == "active:staging"
    assert audit[3]["reason"] == "smoke tests failed" and audit[3]["to"] == "rolled_back"
    assert audit[1]["source"] == "slack:block_actions"
    assert all(e["at"] and e["request_id"] for e in audit)


def test_status_list_and_help(stack: Stack) -> None:
    resp = stack.ws.command(REQ, REL, "/release", "status")
    assert "No release has been started in this channel" in resp.json()["text"]
    assert "No releases yet" in stack.ws.command(REQ, REL, "/release", "list").json()["text"]
    start(stack, "v3.0.0 risk=critical")
    start(stack, "v3.1.0 risk=low")
    stack.ws.command(AP1, REL, "/release", "approve v3.0.0")
    status = stack.ws.command(VIEWER, REL, "/release", "status v3.0.0").json()["text"]
    assert "*v3.0.0*" in status and "approvals 1/2" in status and "approved by <@U0APPROVE1>" in status
    latest = stack.ws.command(VIEWER, REL, "/release", "status").json()["text"]
    assert "*v3.1.0*" in latest
    listing = stack.ws.command(VIEWER, REL, "/release", "list").json()["text"]
    assert listing.index("v3.1.0") < listing.index("v3.0.0")
    help_text = stack.ws.command(VIEWER, REL, "/release", "help").json()["text"]
    for word in ("start", "promote", "approve", "rollback", "override", "status", "list"):
        assert f"/release {word}" in help_text


def test_long_inputs_stay_within_block_kit_limits(stack: Stack) -> None:
    stack.ws.command(REQ, REL, "/release", "")
    view = stack.ws.wait_for(lambda: stack.ws.open_views(REQ))[-1]
    stack.ws.submit_view(REQ, view["id"], {
        "version": "v" + "9" * 63, "type": "major", "risk": "critical",
        "summary": "S" * 2000, "breaking_changes": "B" * 1000, "rollback_plan": "R" * 1000,
    })
    msg = stack.ws.wait_for(lambda: [m for m in stack.bot_messages(REL) if m["blocks"]])[0]
    assert "S" * 500 in block_text(msg)
    stack.settle()
    assert not [m for m in stack.outbox() if m.failed], [m.last_error for m in stack.outbox() if m.failed]
    assert all(c["ok"] for c in stack.ws.calls() if c["method"].startswith("chat."))
