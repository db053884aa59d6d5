"""The release state machine and its gates, without Slack or a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.errors import InvalidTransition, UsageError
from bot.policy import load_policy
from bot.releases import gates
from bot.releases.requests import StartRelease
from bot.releases.state import TRANSITIONS, next_status
from storage.models import Release

FRIDAY = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MONDAY = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _release(**kw: object) -> Release:
    base = {"version": "v1.0.0", "type": "minor", "risk": "medium", "status": "active", "stage": "staging",
            "requested_by": "U0REQUEST", "channel_id": "C1", "checklist": {}}
    base.update(kw)
    return Release(**base)


def test_transition_table() -> None:
    assert next_status("v1", "active", "promote") == "active"
    assert next_status("v1", "completed", "rollback") == "rolled_back"
    for status in ("rolled_back", "rejected"):
        for action in ("promote", "approve", "rollback", "reject"):
            assert (status, action) not in TRANSITIONS
            with pytest.raises(InvalidTransition, match="v1"):
                next_status("v1", status, action)


def test_approvals_gate_follows_risk() -> None:
    policy = load_policy()
    canary = policy.stage("canary")
    assert "needs 2 approvals" in gates.blocked_by(policy, _release(risk="high"), canary, 1, MONDAY)
    assert gates.blocked_by(policy, _release(risk="high"), canary, 2, MONDAY) is None
    assert gates.blocked_by(policy, _release(risk="low"), canary, 1, MONDAY) is None
    assert gates.blocked_by(policy, _release(), policy.stage("staging"), 0, MONDAY) is None


def test_friday_freeze_and_its_exceptions() -> None:
    policy = load_policy()
    canary = policy.stage("canary")
    assert "frozen today (fri" in gates.blocked_by(policy, _release(), canary, 1, FRIDAY)
    # A freeze is judged in the team's time zone: Friday 23:30 UTC is Saturday in Tokyo.
    tokyo = load_policy(overrides={"timezone": "Asia/Tokyo"})
    late_friday = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    assert gates.blocked_by(tokyo, _release(), canary, 1, late_friday) is None
    p1 = _release(type="hotfix", severity="P1")
    assert gates.blocked_by(policy, p1, canary, 1, FRIDAY) is None
    p2 = _release(type="hotfix", severity="P2")
    assert gates.blocked_by(policy, p2, canary, 1, FRIDAY) is not None
    overridden = _release(freeze_override={"by": "U0APPROVE1", "reason": "security fix"})
    assert gates.blocked_by(policy, overridden, canary, 1, FRIDAY) is None
    # Non-production stages are never frozen.
    assert gates.blocked_by(policy, _release(stage="dev"), policy.stage("staging"), 0, FRIDAY) is None


def test_checklist_gate() -> None:
    policy = load_policy(overrides={"stages": [
        {"name": "dev", "label": "Dev"},
        {"name": "staging", "label": "Staging", "requires_checklist": ["Pre-release validation"]},
    ]})
    staging = policy.stage("staging")
    assert "Pre-release validation" in gates.blocked_by(policy, _release(stage="dev"), staging, 0, MONDAY)
    done = {k: {} for k in gates.checklist_keys(policy, "Pre-release validation")}
    assert gates.blocked_by(policy, _release(stage="dev", checklist=done), staging, 0, MONDAY) is None


@pytest.mark.parametrize(("fields", "message"), [
    ({"version": ""}, "Give a version"),
    ({"version": "v" * 5000}, "5,000 characters"),
    ({"version": "<!channel>"}, "letters, digits"),
    ({"version": "v1", "risk": "extreme"}, "Unknown risk `extreme`"),
    ({"version": "v1", "type": "<b>"}, "Unknown type `&lt;b&gt;`"),
])
def test_start_request_validation(fields: dict, message: str) -> None:
    with pytest.raises(UsageError) as err:
        StartRelease.build(channel_id="C1", **fields)
    assert message in err.value.message
