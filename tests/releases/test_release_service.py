"""The release service on a real database: what is stored, what is refused, what is queued for Slack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import GateBlocked, InvalidTransition, PermissionDenied, UsageError
from bot.releases.render import announcement
from bot.releases.requests import StartRelease
from bot.releases.view import load
from bot.services import Services
from bot.tx import Duplicate, Origin, Tx
from storage.models import Release
from tests.support import declare, make_services, queued, who

REQ, A1, A2 = "U0REQUEST", "U0APPROVE1", "U0APPROVE2"
ENV = {"WARROOM_APPROVERS": f"{A1},{A2}", "WARROOM_FREEZE_DAYS": ""}


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    """Services with two approvers and no freeze."""
    s = make_services(database_url, **ENV)
    yield s
    s.db.engine.dispose()


def start(s: Services, version: str = "v1.0.0", **fields: object) -> Release:
    req = StartRelease.build(version=version, channel_id="C0REL", **fields)
    return s.releases.start(req, who(REQ)).release


def test_start_stores_the_release_and_queues_its_announcement(services: Services) -> None:
    r = start(services, risk="high", summary="new checkout")
    assert (r.status, r.stage, r.risk, r.requested_by) == ("active", "dev", "high", REQ)
    rows = queued(services)
    assert [(m.op, m.payload.get("renderer"), m.store_as) for m in rows] == [
        ("render", "release_announcement", f"release:{r.id}:announcement"), ("post", None, None)]
    assert rows[0].payload["channel"] == "C0REL"  # rendered when sent, so it is current then
    assert "Release started by <@U0REQUEST>" in rows[1].payload["text"]
    with pytest.raises(UsageError, match="exists already"):
        start(services)


def test_hotfix_rules(services: Services) -> None:
    with pytest.raises(UsageError, match="needs a severity"):
        start(services, "v2", type="hotfix")
    with pytest.raises(UsageError, match="Only a hotfix carries a severity"):
        start(services, "v2", severity="P1")
    iid = declare(services, "P0", "db down")
    hotfix = start(services, "v2", type="hotfix", incident_id=iid)
    # It takes the incident's severity and starts where the policy says a P0 hotfix starts.
    assert (hotfix.severity, hotfix.stage) == ("P0", "staging")
    # Deployed there as it starts (staging is manual): recorded, so the metrics see it.
    (deployed,) = services.releases.get("v2").deployments
    assert (deployed.environment, deployed.kind, deployed.state, deployed.result) == (
        "staging", "hotfix", "succeeded", "success")
    assert "recorded as deployed to *Staging*" in queued(services, "post")[-1].payload["text"]


def test_four_eyes_and_approvers_only(services: Services) -> None:
    start(services)
    with pytest.raises(PermissionDenied, match="four eyes"):
        services.releases.approve("v1.0.0", who(REQ))
    with pytest.raises(PermissionDenied, match="Only approvers"):
        services.releases.approve("v1.0.0", who("U0SOMEONE"))
    view = services.releases.approve("v1.0.0", who(A1))
    assert [a.user_id for a in view.approvals] == [A1] and view.needed == 1
    with pytest.raises(InvalidTransition, match="approved v1.0.0 already"):
        services.releases.approve("v1.0.0", who(A1))


def test_promotion_follows_the_gates_to_completion(services: Services) -> None:
    start(services, risk="high")
    services.releases.promote("v1.0.0", who(REQ))
    with pytest.raises(GateBlocked, match="needs 2 approvals"):
        services.releases.promote("v1.0.0", who(REQ))
    services.releases.approve("v1.0.0", who(A1))
    services.releases.approve("v1.0.0", who(A2))
    with pytest.raises(InvalidTransition, match="at staging already"):
        services.releases.promote("v1.0.0", who(REQ), expected_stage="dev")  # a stale button
    assert services.releases.promote("v1.0.0", who(REQ)).release.production_at is not None
    done = services.releases.promote("v1.0.0", who(REQ)).release
    assert (done.status, done.stage) == ("completed", "production") and done.finished_at is not None
    with pytest.raises(InvalidTransition, match="at the last stage already"):
        services.releases.promote("v1.0.0", who(REQ))


def test_a_repeated_request_is_applied_once(services: Services) -> None:
    start(services)
    origin = who(A1)
    services.releases.approve("v1.0.0", origin)
    with pytest.raises(Duplicate):
        services.releases.approve("v1.0.0", origin)


def test_a_redelivered_start_or_promotion_is_a_duplicate_not_an_error(services: Services) -> None:
    # The second delivery meets a rule the first one changed ("exists already", "is at staging
    # already"): it is told apart from a new request by its idempotency key.
    req = StartRelease.build(version="v3.0.0", channel_id="C0REL")
    first = Origin(user=REQ, source="slack:/release", request_id="trig-start-1")
    services.releases.start(req, first)
    with pytest.raises(Duplicate):
        services.releases.start(req, first)
    with pytest.raises(UsageError, match="exists already"):  # a new request for the same version
        services.releases.start(req, Origin(user=REQ, source="slack:/release", request_id="trig-start-2"))
    click = Origin(user=REQ, source="slack:block_actions", request_id="trig-promote-1")
    services.releases.promote("v3.0.0", click, expected_stage="dev")
    with pytest.raises(Duplicate):
        services.releases.promote("v3.0.0", click, expected_stage="dev")
    assert services.releases.get("v3.0.0").release.stage == "staging"
    kinds = [e.action for e in services.releases.audit("v3.0.0")]
    assert kinds.count("start") == 1 and kinds.count("promote") == 1


def test_reason_form_is_only_offered_to_who_may_act(services: Services) -> None:
    start(services)
    with pytest.raises(PermissionDenied, match="four eyes"):
        services.releases.check_reasoned("reject", "v1.0.0", who(REQ))
    with pytest.raises(PermissionDenied, match="Only an approver may roll back"):
        services.releases.check_reasoned("rollback", "v1.0.0", who(REQ))
    assert services.releases.check_reasoned("rollback", "v1.0.0", who(A1)).release.version == "v1.0.0"
    services.releases.reject("v1.0.0", who(A1), "not today")
    with pytest.raises(InvalidTransition, match="rejected; it cannot be rolled back"):
        services.releases.check_reasoned("rollback", "v1.0.0", who(A1))


def test_rollback_needs_a_reason_and_tells_the_channel(services: Services) -> None:
    start(services)
    with pytest.raises(UsageError, match="needs a reason"):
        services.releases.rollback("v1.0.0", who(A1), "  ")
    r = services.releases.rollback("v1.0.0", who(A1), "error rate <!here>").release
    assert (r.status, r.rollback_reason, r.rolled_back_by) == ("rolled_back", "error rate <!here>", A1)
    told = [m.payload["text"] for m in queued(services, "post") if m.payload["channel"] == "C0REL"]
    assert told == [":rewind: Release v1.0.0 was rolled back by <@U0APPROVE1>: error rate &lt;!here&gt;"]


def test_checklist_ticks_are_stored_by_id_and_survive_a_reordered_policy(services: Services,
                                                                         database_url: str, tmp_path: Path) -> None:
    start(services)
    with pytest.raises(UsageError, match="Unknown checklist item"):
        services.releases.set_checklist("v1.0.0", who(REQ), ["s0.i0"])
    view = services.releases.set_checklist("v1.0.0", who(REQ), ["changelog", "tests_pass"])
    assert set(view.release.checklist) == {"changelog", "tests_pass"}
    assert view.release.checklist["changelog"]["by"] == REQ
    policy = tmp_path / "policy.yml"
    policy.write_text("checklist:\n"
                      "  - section: Release preparation\n"
                      "    items: [{id: changelog, label: Changelog written}, {id: version_bumped, label: Bumped}]\n"
                      "  - section: Pre-release validation\n"
                      "    items: [{id: tests_pass, label: Tests pass}, {id: compliance, label: Compliance}]\n")
    reordered = make_services(database_url, WARROOM_CONFIG=str(policy), **ENV)
    try:
        with reordered.db.read() as s:
            release = reordered.releases.get("v1.0.0").release
            _, blocks = announcement(load(s, release, reordered.policy), reordered.policy, reordered.clock.now())
        text = str(blocks)
        assert "☑ Changelog written" in text and "☐ Bumped" in text and "☑ Tests pass" in text
    finally:
        reordered.db.engine.dispose()


def test_listeners_hear_each_event_inside_the_transaction(services: Services) -> None:
    heard: list[tuple[str, str]] = []

    def listener(tx: Tx, release: Release, action: str, origin: Origin) -> None:
        heard.append((release.version, action))

    services.releases.listeners.append(listener)
    start(services)
    services.releases.promote("v1.0.0", who(REQ))
    services.releases.rollback("v1.0.0", who(A1), "bad")
    assert heard == [("v1.0.0", "start"), ("v1.0.0", "promote"), ("v1.0.0", "rollback")]
