"""Policy gates on a release: approvals needed, freeze windows, emergencies, checklists."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.policy import WEEKDAYS, Policy, Stage
from storage.models import Release
from storage.vocab import ReleaseType, Risk


def approvals_needed(policy: Policy, risk: Risk) -> int:
    """How many distinct approvers the risk level asks for."""
    return policy.risk_levels[risk].approvals


def is_emergency(policy: Policy, release: Release) -> bool:
    """A hotfix of an emergency severity (default P0/P1) passes the freeze."""
    return (release.type == ReleaseType.HOTFIX and release.severity is not None
            and release.severity in policy.freeze.emergency_severities)


def frozen_today(policy: Policy, now: datetime) -> str | None:
    """The frozen weekday's name when ``now`` falls in a freeze window, else None."""
    day = WEEKDAYS[now.astimezone(ZoneInfo(policy.timezone)).weekday()]
    return day if day in policy.freeze.days else None


def checklist_keys(policy: Policy, section: str | None = None) -> list[str]:
    """The ids of checklist items (what ticks are stored by), optionally of one section."""
    return [item.id for sec in policy.checklist if section in (None, sec.section) for item in sec.items]


def check_bound(policy: Policy) -> dict[str, str]:
    """{checklist key: check name} for items a check ticks (not a person)."""
    return {item.id: item.check for sec in policy.checklist for item in sec.items if item.check}


def checklist_label(policy: Policy, key: str) -> str:
    """The item's label for an id from ``checklist_keys`` (the id itself if the policy dropped it)."""
    item = policy.checklist_item(key)
    return item.label if item else key


def blocked_by(policy: Policy, release: Release, target: Stage, approvals: int, now: datetime) -> str | None:
    """Why ``release`` may not move into ``target`` now, or None when every gate allows it."""
    if target.requires_approval:
        needed = approvals_needed(policy, release.risk)
        if approvals < needed:
            return (f"{target.label} needs {needed} approval{'s' if needed > 1 else ''} "
                    f"({release.risk} risk); {approvals} so far.")
    for section in target.requires_checklist:
        missing = [k for k in checklist_keys(policy, section) if k not in release.checklist]
        if missing:
            return f"{target.label} needs the '{section}' checklist done; {len(missing)} item(s) open."
    if target.production:
        day = frozen_today(policy, now)
        if day and not is_emergency(policy, release) and not release.freeze_override:
            return (f"Production deploys are frozen today ({day}, {policy.timezone}). Emergencies (hotfix "
                    f"{'/'.join(policy.freeze.emergency_severities)}) pass; an approver can override "
                    f"with `/release override {release.version} <reason>`.")
    return None
